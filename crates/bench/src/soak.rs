//! The soak: a long run at moderate, steady load, to tell growth from warm-up. Workers loop
//! over a showtime: read its availability, hold one or two free seats, and either pay (one
//! visit in `--buy-one-in`) or release the hold. Per minute it records the server's memory
//! (VmRSS) and the latency percentiles, and judges whether memory stayed flat and latency did
//! not grow (last minute against the second; the first is warm-up).

use crate::flash::{Availability, Rng, SeatMap, biggest_showtime, memory_kib, register};
use crate::report::{histogram, percentiles};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// How long to run, in minutes.
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// Concurrent workers (each a logged-in buyer).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Each worker pauses this long between visits (milliseconds): the load stays moderate.
    #[arg(long, default_value_t = 100)]
    pause_ms: u64,
    /// One visit in this many pays for its hold; the others release it.
    #[arg(long, default_value_t = 10)]
    buy_one_in: usize,
    /// The server's process id, to sample its memory (VmRSS).
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Default)]
struct Minute {
    requests: u64,
    errors: u64,
    rss_kib: Vec<u64>,
    latency: Option<Histogram<u64>>,
}

pub async fn run(base: &str, options: Options) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let showtime = biggest_showtime(&client, base).await?;
    let layout: SeatMap =
        client.get(format!("{base}/api/v1/showtimes/{showtime}/seats")).send().await?.json().await?;
    let seats: Arc<Vec<String>> =
        Arc::new(layout.tickets.into_iter().filter(|t| t.row.is_some()).map(|t| t.id).collect());
    let tokens = register(&client, base, options.connections).await?;
    eprintln!("soak: {} minutes, {} workers on showtime {showtime}", options.minutes, options.connections);

    let started = Instant::now();
    let minutes: Arc<Mutex<Vec<Minute>>> = Arc::default();
    let record = {
        let minutes = minutes.clone();
        move |latency: Duration, ok: bool| {
            let minute = (started.elapsed().as_secs() / 60) as usize;
            let mut minutes = minutes.lock().unwrap();
            while minutes.len() <= minute {
                minutes.push(Minute::default());
            }
            let slot = &mut minutes[minute];
            slot.requests += 1;
            slot.errors += u64::from(!ok);
            let _ = slot.latency.get_or_insert_with(histogram).record(latency.as_micros() as u64);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let purchases = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for token in tokens {
        let (client, base, showtime, seats, stop, purchases, record) = (
            client.clone(),
            base.to_owned(),
            showtime.clone(),
            seats.clone(),
            stop.clone(),
            purchases.clone(),
            record.clone(),
        );
        let (pause, buy_one_in) = (Duration::from_millis(options.pause_ms), options.buy_one_in.max(1));
        workers.push(tokio::spawn(async move {
            let mut rng = Rng::new();
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(pause).await;
                let sent = Instant::now();
                let url = format!("{base}/api/v1/showtimes/{showtime}/availability");
                let Ok(map) = async { client.get(url).send().await?.json::<Availability>().await }.await
                else {
                    record(sent.elapsed(), false);
                    continue;
                };
                record(sent.elapsed(), true);
                let free: Vec<&String> = map
                    .statuses
                    .bytes()
                    .zip(seats.iter())
                    .filter(|(s, _)| *s == b'A')
                    .map(|(_, id)| id)
                    .collect();
                if free.is_empty() {
                    continue;
                }
                let start = rng.below(free.len());
                let ids: Vec<&String> =
                    free.iter().cycle().skip(start).take(1 + rng.below(2)).copied().collect();
                let sent = Instant::now();
                let hold = client
                    .post(format!("{base}/api/v1/holds"))
                    .bearer_auth(&token)
                    .json(&json!({"showtime_id": showtime, "ticket_ids": ids}))
                    .send()
                    .await;
                let Ok(hold) = hold else {
                    record(sent.elapsed(), false);
                    continue;
                };
                let status = hold.status().as_u16();
                record(sent.elapsed(), status == 201 || status == 409);
                let Ok(hold) = hold.json::<Value>().await else { continue };
                if status != 201 {
                    continue;
                }
                let sent = Instant::now();
                let outcome = if rng.below(buy_one_in) == 0 {
                    let body = json!({"hold_id": hold["id"], "payment_token": "tok_visa"});
                    let paid = client
                        .post(format!("{base}/api/v1/orders"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    let ok = paid.is_ok_and(|r| r.status().as_u16() == 201);
                    purchases.fetch_add(u64::from(ok), Ordering::Relaxed);
                    ok
                } else {
                    let id = hold["id"].as_str().unwrap_or_default();
                    let released =
                        client.delete(format!("{base}/api/v1/holds/{id}")).bearer_auth(&token).send().await;
                    released.is_ok_and(|r| r.status().is_success())
                };
                record(sent.elapsed(), outcome);
            }
        }));
    }
    // Memory, every five seconds, into the minute it belongs to.
    let deadline = started + Duration::from_secs(options.minutes * 60);
    while Instant::now() < deadline {
        if let Some(kib) = options.server_pid.and_then(memory_kib) {
            let minute = (started.elapsed().as_secs() / 60) as usize;
            let mut minutes = minutes.lock().unwrap();
            while minutes.len() <= minute {
                minutes.push(Minute::default());
            }
            minutes[minute].rss_kib.push(kib);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await?;
    }

    let minutes = minutes.lock().unwrap();
    let minutes: Vec<&Minute> = minutes.iter().take(options.minutes as usize).collect();
    let table: Vec<Value> = minutes
        .iter()
        .enumerate()
        .map(|(n, m)| {
            let rss = m.rss_kib.iter().copied().max().map(|k| k / 1024);
            let latency = m.latency.as_ref().map(percentiles).unwrap_or(Value::Null);
            json!({"minute": n + 1, "requests": m.requests, "errors": m.errors, "rss_mib_max": rss, "latency": latency})
        })
        .collect();
    let p99 = |m: &Minute| m.latency.as_ref().map(|h| h.value_at_quantile(0.99) as f64 / 1000.0);
    let rss = |m: &Minute| m.rss_kib.iter().copied().max().map(|k| k as f64 / 1024.0);
    // The first minute is warm-up: compare the last with the second.
    let (second, last) = (minutes.get(1), minutes.last());
    let growth =
        |f: &dyn Fn(&Minute) -> Option<f64>| match (second.and_then(|m| f(m)), last.and_then(|m| f(m))) {
            (Some(a), Some(b)) if a > 0.0 => Some(((b / a - 1.0) * 1000.0).round() / 10.0),
            _ => None,
        };
    let memory_growth = growth(&rss);
    let p99_growth = growth(&p99);
    Ok(json!({
        "scenario": "soak",
        "minutes": options.minutes,
        "connections": options.connections,
        "purchases": purchases.load(Ordering::Relaxed),
        "requests": minutes.iter().map(|m| m.requests).sum::<u64>(),
        "errors": minutes.iter().map(|m| m.errors).sum::<u64>(),
        "memory_growth_pct_second_to_last_minute": memory_growth,
        "p99_growth_pct_second_to_last_minute": p99_growth,
        // Flat: under 5 % more memory and under 50 % more p99 (the machine is shared and noisy).
        "memory_flat": memory_growth.is_some_and(|g| g < 5.0),
        "latency_flat": p99_growth.is_some_and(|g| g < 50.0),
        "per_minute": table,
    }))
}
