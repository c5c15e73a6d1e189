//! The `marquee` binary itself: the admin command and HTTPS.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
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
    assert!(
        curl(&["-sS", "--max-time", "2", &format!("http://127.0.0.1:{port}/healthz")]).is_none(),
        "no plain HTTP on the TLS port"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
