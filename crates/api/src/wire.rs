//! The connection beneath the HTTP parser.
//!
//! hyper answers a request it cannot parse by itself, before any of our code sees it: a
//! request line past 64 KiB (414), more than 100 headers or a head past its buffer (431), a
//! line that is not HTTP (400), an unknown version (505). Those answers are a bare status with
//! no body. [`ProblemStream`] wraps each accepted connection, recognises such an answer as it
//! is written — hyper's are the only responses whose status line is followed directly by
//! `connection: close` and `content-length: 0`, since every response of ours starts with its
//! own headers — and writes in its place the same status with a problem document, so that
//! every error a client can get from Marquee reads the same way. Everything else passes
//! through untouched (no copy, vectored writes kept).

use crate::error::{ApiError, PROBLEM_JSON};
use axum::http::StatusCode;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What follows the status line of every answer hyper makes by itself.
const BARE_HEADERS: &[u8] = b"connection: close\r\ncontent-length: 0\r\n";
/// The longest head hyper writes for such an answer (status line, three headers).
const MAX_BARE_HEAD_BYTES: usize = 256;

/// A connection whose parse-error answers from hyper carry problem documents.
pub struct ProblemStream<S> {
    inner: S,
    /// A replacement answer still to be written, and how much of it has been.
    pending: Vec<u8>,
    pending_written: usize,
}

impl<S> ProblemStream<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, pending: Vec::new(), pending_written: 0 }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncWrite + Unpin> ProblemStream<S> {
    /// Writes what is left of a replacement answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending_written < self.pending.len() {
            let written =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.pending_written..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending_written += written;
        }
        self.pending.clear();
        self.pending_written = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes `head` (all of it is reported written) and starts writing its replacement.
    fn replace(
        &mut self,
        cx: &mut Context<'_>,
        head: &[u8],
        replacement: Vec<u8>,
    ) -> Poll<io::Result<usize>> {
        self.pending = replacement;
        self.pending_written = 0;
        match self.poll_pending(cx) {
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            // The rest goes out on the next write, flush or shutdown.
            _ => Poll::Ready(Ok(head.len())),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ProblemStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ProblemStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        match problem_for_bare_answer(buf) {
            Some(replacement) => self.replace(cx, buf, replacement),
            None => Pin::new(&mut self.inner).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        // hyper's bare answer is a head of its own, so it starts a slice. Slices before it go
        // out first (a shorter write is allowed); the caller then writes again from it.
        let bare = bufs.iter().position(|buf| starts_bare_answer(buf));
        match bare {
            Some(0) => match problem_for_bare_answer(&bufs[0]) {
                Some(replacement) => self.replace(cx, &bufs[0], replacement),
                None => Pin::new(&mut self.inner).poll_write(cx, &bufs[0]),
            },
            Some(first_bare) => Pin::new(&mut self.inner).poll_write_vectored(cx, &bufs[..first_bare]),
            None => Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Whether `buf` starts like one of hyper's own answers (status line, then its headers).
fn starts_bare_answer(buf: &[u8]) -> bool {
    let Some(line_end) = buf.iter().take(MAX_BARE_HEAD_BYTES).position(|&b| b == b'\n') else {
        return false;
    };
    buf.starts_with(b"HTTP/1.1 ") && buf[line_end + 1..].starts_with(BARE_HEADERS)
}

/// The answer to write instead of `head` when it is one of hyper's bare error answers, whole:
/// the same status and `date`, with a problem document.
fn problem_for_bare_answer(head: &[u8]) -> Option<Vec<u8>> {
    if head.len() > MAX_BARE_HEAD_BYTES || !head.ends_with(b"\r\n\r\n") || !starts_bare_answer(head) {
        return None;
    }
    let status = StatusCode::from_bytes(head.get(9..12)?).ok()?;
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let date = text.lines().find(|line| line.to_ascii_lowercase().starts_with("date:"));
    let error = match status {
        StatusCode::BAD_REQUEST => ApiError::BadRequest("the request is not well-formed HTTP/1.1".into()),
        status => {
            let detail = match status {
                StatusCode::URI_TOO_LONG => format!(
                    "the URL is too long to read; at most {} bytes are accepted",
                    crate::error::MAX_URI_BYTES
                ),
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                    "the request has too many headers, or headers too large to read".into()
                }
                status => status.canonical_reason().unwrap_or("the request was refused").to_lowercase(),
            };
            ApiError::Rejected { status, detail }
        }
    };
    let (status, body) = error.to_problem();
    let body = serde_json::to_vec(&body).ok()?;
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {PROBLEM_JSON}\r\nx-content-type-options: nosniff\r\n\
         cache-control: no-store\r\nconnection: close\r\ncontent-length: {}\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if let Some(date) = date {
        answer.push_str(date);
        answer.push_str("\r\n");
    }
    answer.push_str("\r\n");
    let mut answer = answer.into_bytes();
    answer.extend_from_slice(&body);
    Some(answer)
}

/// A listener whose connections are [`ProblemStream`]s.
pub struct ProblemListener(pub tokio::net::TcpListener);

impl axum::serve::Listener for ProblemListener {
    type Io = ProblemStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, address) = axum::serve::Listener::accept(&mut self.0).await;
        (ProblemStream::new(stream), address)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const BARE_414: &[u8] = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\n\
        date: Wed, 02 Dec 2026 15:31:04 GMT\r\n\r\n";

    /// What a client reads after the server side wrote `writes` through a `ProblemStream`.
    async fn read_back(writes: &[&[u8]], vectored: bool) -> String {
        let (server, mut client) = tokio::io::duplex(64 * 1024);
        let mut server = ProblemStream::new(server);
        for write in writes {
            if vectored {
                let slices = [io::IoSlice::new(write)];
                let mut written = 0;
                while written < write.len() {
                    written += server.write_vectored(&slices).await.unwrap();
                }
            } else {
                server.write_all(write).await.unwrap();
            }
        }
        server.shutdown().await.unwrap();
        drop(server);
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn hypers_bare_answers_become_problem_documents() {
        for vectored in [false, true] {
            let answer = read_back(&[BARE_414], vectored).await;
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
            assert!(head.contains("content-type: application/problem+json"), "{head}");
            assert!(head.contains("date: Wed, 02 Dec 2026 15:31:04 GMT"), "{head}");
            assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
            let problem: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(problem["status"], 414);
            assert_eq!(problem["code"], "request_rejected");
        }
        let malformed = read_back(
            &[b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"],
            false,
        )
        .await;
        assert!(malformed.contains("\"code\":\"bad_request\""), "{malformed}");
    }

    #[tokio::test]
    async fn our_own_responses_pass_through_untouched() {
        let ours: &[&[u8]] = &[
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/problem+json\r\ncontent-length: 2\r\n\r\n",
            b"{}",
            b"HTTP/1.1 204 No Content\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        ];
        let expected: String = ours.iter().map(|w| String::from_utf8_lossy(w)).collect();
        assert_eq!(read_back(ours, false).await, expected);
        assert_eq!(read_back(ours, true).await, expected);
    }

    #[tokio::test]
    async fn a_bare_answer_after_a_pipelined_response_is_replaced_in_its_turn() {
        let (server, mut client) = tokio::io::duplex(64 * 1024);
        let mut server = ProblemStream::new(server);
        let first: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let slices = [io::IoSlice::new(first), io::IoSlice::new(BARE_414)];
        let written = server.write_vectored(&slices).await.unwrap();
        assert_eq!(written, first.len(), "the response before the bare answer goes out alone");
        server.write_all(BARE_414).await.unwrap();
        server.shutdown().await.unwrap();
        drop(server);
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 414"), "{out}");
        assert!(out.contains("application/problem+json"), "{out}");
    }
}
