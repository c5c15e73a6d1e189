//! `marquee backup` and `marquee restore`, with the real binary: a copy taken while the
//! server sells is a working database that keeps every sale.

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_marquee");

fn marquee(database: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env("MARQUEE_DATABASE_URL", format!("sqlite://{}", database.display()))
        .env("MARQUEE_LOG", "warn")
        .env("RUST_BACKTRACE", "0");
    command
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Server {
    fn start(database: &Path, demo: bool) -> (Self, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = marquee(database)
            .env("MARQUEE_LISTEN", format!("127.0.0.1:{port}"))
            .env("MARQUEE_DEMO_IF_EMPTY", demo.to_string())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(120);
        while curl(&["--max-time", "2", &format!("{base}/healthz")]).is_none() {
            assert!(Instant::now() < deadline, "the server never answered");
            std::thread::sleep(Duration::from_millis(200));
        }
        (Self(child), base)
    }

    fn stop(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A successful (2xx) request's body as JSON.
fn curl(args: &[&str]) -> Option<serde_json::Value> {
    let output = Command::new("curl").args(["-sS", "--fail-with-body"]).args(args).output().ok()?;
    output.status.success().then(|| serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_backup_taken_while_the_server_sells_restores_to_a_database_with_every_sale() {
    let dir = std::env::temp_dir().join(format!("marquee-backup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (live, copy, restored) = (dir.join("live.db"), dir.join("copy.db"), dir.join("restored/marquee.db"));

    // A server on SQLite with the demo catalog; a buyer buys one seat over HTTP.
    let (server, base) = Server::start(&live, true);
    let token = curl(&[
        "-X",
        "POST",
        &format!("{base}/api/v1/auth/register"),
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"email": "keeper@example.com", "password": "correct horse battery"}"#,
    ])
    .expect("register")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = format!("authorization: Bearer {token}");
    let movie =
        curl(&[&format!("{base}/movie/list")]).unwrap()["items"][0]["id"].as_str().unwrap().to_owned();
    let showtime =
        curl(&[&format!("{base}/movie/{movie}")]).unwrap()["showtimes"][0]["id"].as_str().unwrap().to_owned();
    let seats = curl(&[&format!("{base}/api/v1/showtimes/{showtime}/seats")]).unwrap();
    let ticket = seats["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == "available")
        .expect("a free seat")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bought = curl(&[
        "-X",
        "POST",
        &format!("{base}/ticket/{ticket}"),
        "-H",
        &auth,
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"payment_token": "tok_visa"}"#,
    ])
    .expect("buy a ticket");
    assert_eq!(bought["order"]["status"], "confirmed");
    let order = bought["order"]["id"].as_str().unwrap().to_owned();

    // The backup runs beside the live server, and never overwrites a file.
    let backup = marquee(&live).arg("backup").arg(&copy).output().unwrap();
    assert!(backup.status.success(), "backup failed: {}", stderr(&backup));
    let again = marquee(&live).arg("backup").arg(&copy).output().unwrap();
    assert!(!again.status.success() && stderr(&again).contains("never overwrites"), "{}", stderr(&again));
    assert!(curl(&[&format!("{base}/healthz")]).is_some(), "the server kept running");
    server.stop();

    // Restore refuses what is not a Marquee database and a path that has one.
    let junk = dir.join("junk.db");
    std::fs::write(&junk, b"not a database").unwrap();
    let refused = Command::new(BINARY).arg("restore").arg(&junk).arg(&restored).output().unwrap();
    assert!(!refused.status.success(), "a junk file is not restored");
    let occupied = Command::new(BINARY).arg("restore").arg(&copy).arg(&live).output().unwrap();
    assert!(!occupied.status.success() && stderr(&occupied).contains("exists"), "{}", stderr(&occupied));

    // Restored to a new path, a new server has the order and the sold seat (and the session).
    let restore = Command::new(BINARY).arg("restore").arg(&copy).arg(&restored).output().unwrap();
    assert!(restore.status.success(), "restore failed: {}", stderr(&restore));
    let (_server, base) = Server::start(&restored, false);
    let orders = curl(&[&format!("{base}/api/v1/orders"), "-H", &auth]).expect("my orders");
    let found = &orders["items"][0]["order"];
    assert_eq!((found["id"].as_str(), found["status"].as_str()), (Some(order.as_str()), Some("confirmed")));
    let price = curl(&[&format!("{base}/ticket/{ticket}/price")]).unwrap();
    assert_eq!(price["status"], "sold");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn backup_of_a_postgres_database_points_to_pg_dump_and_fails() {
    let output = Command::new(BINARY)
        .args(["backup", "/tmp/never-written.db"])
        .env("MARQUEE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/marquee")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("pg_dump"), "{}", stderr(&output));
    assert!(!Path::new("/tmp/never-written.db").exists());
}
