//! The `marquee` binary itself: the admin command, HTTPS, its logs and its shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_marquee");

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("marquee-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn marquee(database: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env("MARQUEE_DATABASE_URL", format!("sqlite://{}", database.display()))
        .env("MARQUEE_DEMO_IF_EMPTY", "false")
        .env("MARQUEE_LOG", "warn");
    command
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn curl(args: &[&str]) -> Option<String> {
    let output = Command::new("curl").args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn wait_for(url: &str, extra: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut args = vec!["-sS", "-i", "--max-time", "2"];
        args.extend_from_slice(extra);
        args.push(url);
        if let Some(response) = curl(&args) {
            return response;
        }
        assert!(Instant::now() < deadline, "{url} never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn admin_create_makes_an_admin_who_can_log_in_and_never_uses_a_default_password() {
    let dir = temp_dir("admin");
    let database = dir.join("marquee.db");
    let mut create = marquee(&database)
        .args(["admin", "create", "--email", "Boss@Example.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    create.stdin.take().unwrap().write_all(b"a long admin password\n").unwrap();
    let output = create.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("admin boss@example.com created"));

    let mut short = marquee(&database)
        .args(["admin", "create", "--email", "other@example.com"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    short.stdin.take().unwrap().write_all(b"short\n").unwrap();
    assert!(!short.wait().unwrap().success(), "a short password is refused");

    let port = free_port();
    let _server =
        Server(marquee(&database).env("MARQUEE_LISTEN", format!("127.0.0.1:{port}")).spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{base}/healthz"), &[]);
    let login = curl(&[
        "-sS",
        "-X",
        "POST",
        &format!("{base}/api/v1/auth/login"),
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"email": "boss@example.com", "password": "a long admin password"}"#,
    ])
    .unwrap();
    let token =
        serde_json::from_str::<serde_json::Value>(&login).unwrap()["token"].as_str().unwrap().to_owned();
    let me = curl(&["-sS", &format!("{base}/api/v1/me"), "-H", &format!("authorization: Bearer {token}")])
        .unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&me).unwrap()["role"], "admin");
    // The command line's change is in the audit log, like the box office's.
    let audit = curl(&[
        "-sS",
        &format!("{base}/api/v1/admin/audit?action=admin.create"),
        "-H",
        &format!("authorization: Bearer {token}"),
    ])
    .unwrap();
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(
        audit["items"][0]["target"],
        serde_json::from_str::<serde_json::Value>(&me).unwrap()["id"],
        "{audit}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_a_certificate_it_serves_https_with_hsts() {
    let dir = temp_dir("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let generated = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status();
    if !generated.is_ok_and(|status| status.success()) {
        eprintln!("skipping: openssl is not available to make a test certificate");
        return;
    }
    let port = free_port();
    let _server = Server(
        marquee(&dir.join("marquee.db"))
            .env("MARQUEE_LISTEN", format!("127.0.0.1:{port}"))
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .spawn()
            .unwrap(),
    );
    let response = wait_for(&format!("https://127.0.0.1:{port}/healthz"), &["--insecure"]);
    assert!(response.starts_with("HTTP/2 200") || response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.to_lowercase().contains("strict-transport-security: max-age=31536000"), "{response}");
    // hyper's own answer to a request line it will not read is a problem document here too.
    let long_url = format!("https://127.0.0.1:{port}/movie/list?q={}", "a".repeat(70_000));
    let refused = curl(&["-sS", "-i", "--insecure", "--http1.1", &long_url]).unwrap();
    assert!(refused.starts_with("HTTP/1.1 414"), "{refused}");
    assert!(refused.contains("application/problem+json") && refused.contains("\"status\":414"), "{refused}");
    assert!(
        curl(&["-sS", "--max-time", "2", &format!("http://127.0.0.1:{port}/healthz")]).is_none(),
        "no plain HTTP on the TLS port"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Everything the server writes to standard output and standard error, collected as it comes
/// (read on threads so a full pipe never blocks the server).
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<String>>>);

impl Output {
    fn capture(child: &mut Child) -> Self {
        let output = Output::default();
        let stdout = child.stdout.take().map(|out| Box::new(out) as Box<dyn Read + Send>);
        let stderr = child.stderr.take().map(|err| Box::new(err) as Box<dyn Read + Send>);
        for stream in [stdout, stderr].into_iter().flatten() {
            let lines = output.0.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        output
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn spawn_captured(command: &mut Command) -> (Server, Output) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let output = Output::capture(&mut child);
    (Server(child), output)
}

/// A server (with its log captured) on a free port, ready, with the given shutdown timeout.
fn serving_with_shutdown_timeout(
    name: &str,
    timeout_secs: u32,
    demo: bool,
) -> (std::path::PathBuf, u16, Server, Output) {
    let dir = temp_dir(name);
    let port = free_port();
    let (server, output) = spawn_captured(
        marquee(&dir.join("marquee.db"))
            .env("MARQUEE_LISTEN", format!("127.0.0.1:{port}"))
            .env("MARQUEE_DEMO_IF_EMPTY", demo.to_string())
            .env("MARQUEE_LOG", "info")
            .args(["--shutdown-timeout-secs", &timeout_secs.to_string()]),
    );
    wait_for(&format!("http://127.0.0.1:{port}/healthz"), &[]);
    (dir, port, server, output)
}

fn terminate(server: &Server) {
    let status = Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -TERM");
}

/// Waits for the server to exit, at most `limit`; returns its exit status.
fn wait_exit(server: &mut Server, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A registration whose body is sent in two parts, so the request is in flight in between.
struct SlowRequest {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl SlowRequest {
    fn start(port: u16, email: &str) -> Self {
        let body = format!(r#"{{"email": "{email}", "password": "correct horse battery"}}"#).into_bytes();
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let head = format!(
            "POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        let (first, rest) = body.split_at(body.len() / 2);
        stream.write_all(first).unwrap();
        stream.flush().unwrap();
        Self { stream, rest: rest.to_vec() }
    }

    /// Sends the rest of the body and reads the whole answer.
    fn finish(mut self) -> String {
        self.stream.write_all(&self.rest).unwrap();
        self.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut answer = String::new();
        let _ = self.stream.read_to_string(&mut answer);
        answer
    }
}

#[test]
fn json_logs_have_one_line_per_request_with_its_id_and_never_a_secret() {
    let dir = temp_dir("logs");
    let port = free_port();
    let (mut server, output) = spawn_captured(
        marquee(&dir.join("marquee.db"))
            .env("MARQUEE_LISTEN", format!("127.0.0.1:{port}"))
            .env("MARQUEE_LOG_JSON", "true")
            // Everything Marquee logs, at its most talkative.
            .env("MARQUEE_LOG", "debug"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{base}/healthz"), &[]);

    let password = "Canary-Password-7f3a9c";
    let register = curl(&[
        "-sS",
        "-X",
        "POST",
        &format!("{base}/api/v1/auth/register"),
        "-H",
        "content-type: application/json",
        "-d",
        &format!(r#"{{"email": "logs@example.com", "password": "{password}"}}"#),
    ])
    .unwrap();
    let token =
        serde_json::from_str::<serde_json::Value>(&register).unwrap()["token"].as_str().unwrap().to_owned();
    let login = |password: &str| {
        curl(&[
            "-sS",
            "-X",
            "POST",
            &format!("{base}/api/v1/auth/login"),
            "-H",
            "content-type: application/json",
            "-d",
            &format!(r#"{{"email": "logs@example.com", "password": "{password}"}}"#),
        ])
        .unwrap()
    };
    login(password);
    login("Wrong-Canary-Password-1b2c");
    let me = curl(&[
        "-sS",
        &format!("{base}/api/v1/me"),
        "-H",
        &format!("authorization: Bearer {token}"),
        "-H",
        "cookie: session=Cookie-Canary-5d6e",
        "-H",
        "x-request-id: logs-test-42",
    ])
    .unwrap();
    assert!(me.contains("logs@example.com"), "{me}");
    curl(&[
        "-sS",
        "-X",
        "POST",
        &format!("{base}/ticket/tkt_missing"),
        "-H",
        &format!("authorization: Bearer {token}"),
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"payment_token": "tok_Canary_Payment_9e8d"}"#,
    ])
    .unwrap();
    terminate(&server);
    assert!(wait_exit(&mut server, Duration::from_secs(30)).success());
    std::thread::sleep(Duration::from_millis(200));
    let lines = output.lines();

    // One JSON object per line, nothing else.
    let entries: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not one JSON object: {line}")))
        .collect();
    // Every line logged while serving the request carries its id (here: its database reads and
    // writes, logged at debug from the store's own threads), and one access line says method,
    // route, status and latency.
    let of_request: Vec<&serde_json::Value> =
        entries.iter().filter(|entry| entry["span"]["request_id"] == "logs-test-42").collect();
    assert!(of_request.iter().any(|entry| entry["target"] == "marquee_store::sqlite"), "{of_request:?}");
    let access: Vec<&&serde_json::Value> =
        of_request.iter().filter(|entry| entry["target"] == "marquee_api::access").collect();
    assert_eq!(access.len(), 1, "{access:?}");
    let line = access[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["message"], "request");
    assert_eq!(line["fields"]["status"], 200);
    assert!(line["fields"]["latency_ms"].as_f64().is_some(), "{line}");
    assert_eq!(
        (line["span"]["method"].as_str(), line["span"]["route"].as_str()),
        (Some("GET"), Some("/api/v1/me"))
    );
    let requests = entries.iter().filter(|entry| entry["target"] == "marquee_api::access").count();
    assert_eq!(requests, 6, "healthz, register, two logins, me, the purchase: one line each");
    // No secret, whatever the level.
    let all = lines.join("\n");
    for secret in
        [password, "Wrong-Canary-Password-1b2c", &token, "Cookie-Canary-5d6e", "tok_Canary_Payment_9e8d"]
    {
        assert!(!all.contains(secret), "{secret} was logged:\n{all}");
    }
    // Nor the headers that carry them (a schema comment may well say "bearer").
    let headers: Vec<&String> = lines
        .iter()
        .filter(|line| {
            let line = line.to_lowercase();
            line.contains("authorization: bearer")
                || line.contains("\"authorization\"")
                || line.contains("cookie")
        })
        .collect();
    assert!(headers.is_empty(), "a header was logged: {headers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_stops_accepting_ends_streams_answers_in_flight_requests_and_exits() {
    let (dir, port, mut server, output) = serving_with_shutdown_timeout("shutdown", 15, true);
    let base = format!("http://127.0.0.1:{port}");
    let showtimes = curl(&["-sS", &format!("{base}/api/v1/showtimes?limit=1")]).unwrap();
    let showtime = serde_json::from_str::<serde_json::Value>(&showtimes).unwrap()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A live stream, open and past its first event.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET /api/v1/showtimes/{showtime}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 8192];
    while !String::from_utf8_lossy(&seen).contains("event: snapshot") {
        let read = stream.read(&mut buffer).expect("the stream's first event");
        assert!(read > 0, "the stream ended early");
        seen.extend_from_slice(&buffer[..read]);
    }
    // A request in flight: half its body sent.
    let slow = SlowRequest::start(port, "late@example.com");
    std::thread::sleep(Duration::from_millis(300));

    let signalled = Instant::now();
    terminate(&server);
    // The stream ends (it would never end by itself).
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(error) => panic!("the stream did not end after SIGTERM: {error}"),
        }
    }
    // No new connections.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The request in flight is answered in full.
    let answer = slow.finish();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("\"token\""), "{answer}");
    let status = wait_exit(&mut server, Duration::from_secs(15));
    assert!(status.success(), "{status}");
    assert!(signalled.elapsed() < Duration::from_secs(15), "drained well within the timeout");
    std::thread::sleep(Duration::from_millis(200));
    let log = output.lines().join("\n");
    assert!(log.contains("shutting down") && log.contains("stopped"), "{log}");
    assert!(!log.contains("exiting anyway"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_request_that_never_finishes_holds_up_shutdown_only_until_the_timeout() {
    let (dir, port, mut server, output) = serving_with_shutdown_timeout("shutdown-timeout", 2, false);
    let stuck = SlowRequest::start(port, "stuck@example.com");
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    terminate(&server);
    let status = wait_exit(&mut server, Duration::from_secs(10));
    let waited = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(waited >= Duration::from_millis(1500), "it waited for the request ({waited:?})");
    assert!(waited < Duration::from_secs(6), "and no longer than the timeout ({waited:?})");
    std::thread::sleep(Duration::from_millis(200));
    let log = output.lines().join("\n");
    assert!(log.contains("exiting anyway"), "{log}");
    drop(stuck);
    let _ = std::fs::remove_dir_all(&dir);
}

fn events_in(database: &Path) -> usize {
    let output = Command::new("sqlite3").arg(database).arg("SELECT COUNT(*) FROM events").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap()
}

#[test]
fn seed_demo_loads_the_demo_once_and_says_so() {
    if Command::new("sqlite3").arg("--version").output().is_err() {
        eprintln!("skipped: no sqlite3 shell");
        return;
    }
    let dir = temp_dir("seed");
    let database = dir.join("marquee.db");
    let first = marquee(&database).arg("seed-demo").output().unwrap();
    assert!(first.status.success(), "{first:?}");
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(said.starts_with("Demo catalog loaded: "), "{said}");
    assert!(!said.contains("DemoSummary") && !said.contains("ShowtimeId"), "no debug text: {said}");
    let events = events_in(&database);
    assert!(events > 0);

    let again = marquee(&database).arg("seed-demo").output().unwrap();
    assert!(again.status.success(), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already loaded"), "{again:?}");
    assert_eq!(events_in(&database), events, "a second seed-demo duplicated the catalog");

    let forced = marquee(&database).args(["seed-demo", "--force"]).output().unwrap();
    assert!(forced.status.success(), "{forced:?}");
    assert_eq!(events_in(&database), 2 * events);
}

#[test]
fn one_shot_commands_print_their_answer_and_their_help_only_what_they_use() {
    let dir = temp_dir("one-shot");
    let database = dir.join("marquee.db");
    // Without MARQUEE_LOG, as a user runs them: the answer, and no log lines around it.
    let migrate = marquee(&database).env_remove("MARQUEE_LOG").arg("migrate").output().unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    assert_eq!(String::from_utf8_lossy(&migrate.stdout), "Migrations applied.\n");
    let mut create = marquee(&database)
        .env_remove("MARQUEE_LOG")
        .args(["admin", "create", "--email", "boss@example.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    create.stdin.take().unwrap().write_all(b"a long admin password\n").unwrap();
    let output = create.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.starts_with("admin boss@example.com created"), "{said}");

    // Each command's help names what it takes, described, and not the service's settings.
    let help = |args: &[&str]| {
        let output = Command::new(BINARY).args(args).arg("--help").output().unwrap();
        assert!(output.status.success(), "{args:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    for (command, described) in [
        (&["migrate"][..], &["--database-url"][..]),
        (&["seed-demo"], &["--force", "Load another copy"]),
        (&["admin", "create"], &["--email", "e-mail address"]),
        (&["backup"], &["Where the copy is written"]),
        (&["restore"], &["The backup to check", "The new database file"]),
    ] {
        let text = help(command);
        assert!(!text.contains("--listen") && !text.contains("--hold-ttl-secs"), "{command:?}: {text}");
        assert!(text.lines().count() < 40, "{command:?} help has {} lines", text.lines().count());
        for words in described {
            assert!(text.contains(words), "{command:?} help lacks {words:?}: {text}");
        }
    }
    for command in [&[][..], &["serve"]] {
        assert!(help(command).contains("--hold-ttl-secs"), "{command:?} takes the service's settings");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flag_values_are_refused_before_the_database_is_touched() {
    let dir = temp_dir("flags");
    let database = dir.join("marquee.db");
    for flag in [
        ["--max-tickets-per-hold", "0"],
        ["--max-tickets-per-hold", "101"],
        ["--max-held-tickets-per-showtime", "0"],
    ] {
        let output = marquee(&database).arg("serve").args(flag).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{flag:?}: {output:?}");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(said.contains(flag[0]), "{said}");
        assert!(!database.exists(), "{flag:?} created the database before refusing");
    }
}

#[test]
fn database_errors_say_their_cause_in_plain_words() {
    let Ok(url) = std::env::var("MARQUEE_TEST_POSTGRES_URL") else {
        eprintln!("skipped: MARQUEE_TEST_POSTGRES_URL is not set");
        return;
    };
    let server = url.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap().to_owned();
    for (database_url, expected) in [
        (
            format!("postgres://nobody@{server}/x"),
            "the database refused the login: role \"nobody\" does not exist",
        ),
        (
            format!("postgres://postgres@{server}/no_such_db"),
            "database \"no_such_db\" does not exist: create it first",
        ),
        ("postgres://postgres@no-such-host.invalid/x".to_owned(), "the host name could not be resolved"),
    ] {
        let output = Command::new(BINARY)
            .args(["migrate", "--database-url", &database_url, "--database-acquire-timeout-secs", "2"])
            .env("MARQUEE_LOG", "warn")
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(said.contains(expected), "{database_url}: {said}");
        assert!(!said.contains("internal error") && !said.contains(" at line "), "{said}");
    }
}
