//! Fixed-concurrency, fixed-duration GET loops.

use crate::report::{histogram, percentiles};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Catalog URLs a browsing visitor requests: the list, movie pages, a showtime and its seat map.
pub async fn catalog_urls(base: &str) -> anyhow::Result<Vec<String>> {
    let client = reqwest::Client::new();
    let list: Value = client.get(format!("{base}/movie/list?limit=20")).send().await?.json().await?;
    let mut urls = vec![format!("{base}/movie/list"), format!("{base}/movie/list?city=Berlin")];
    for item in list["items"].as_array().map(Vec::as_slice).unwrap_or_default().iter().take(4) {
        let id = item["id"].as_str().unwrap_or_default();
        urls.push(format!("{base}/movie/{id}"));
        let movie: Value = client.get(format!("{base}/movie/{id}")).send().await?.json().await?;
        if let Some(showtime) = movie["showtimes"][0]["id"].as_str() {
            urls.push(format!("{base}/api/v1/showtimes/{showtime}"));
            urls.push(format!("{base}/api/v1/showtimes/{showtime}/seats"));
        }
    }
    anyhow::ensure!(urls.len() > 2, "the catalog is empty: start Marquee with its demo data");
    Ok(urls)
}

pub async fn run(
    name: &str,
    base: &str,
    urls: Vec<String>,
    concurrency: usize,
    duration_secs: u64,
) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let deadline = Instant::now() + Duration::from_secs(duration_secs);
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (client, urls) = (client.clone(), urls.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = histogram();
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            let mut next = worker;
            while Instant::now() < deadline {
                let url = &urls[next % urls.len()];
                next += 1;
                let sent = Instant::now();
                let status = match client.get(url).send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                let _ = latencies.record(sent.elapsed().as_micros() as u64);
                *statuses.entry(status).or_default() += 1;
            }
            (latencies, statuses)
        }));
    }
    let mut latencies = histogram();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for worker in workers {
        let (worker_latencies, worker_statuses) = worker.await?;
        latencies.add(&worker_latencies)?;
        for (status, count) in worker_statuses {
            *statuses.entry(status).or_default() += count;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok: u64 = statuses.iter().filter(|(s, _)| (200..300).contains(*s)).map(|(_, n)| n).sum();
    Ok(json!({
        "scenario": name,
        "base": base,
        "concurrency": concurrency,
        "duration_s": (elapsed * 100.0).round() / 100.0,
        "urls": urls.len(),
        "requests_per_s": (latencies.len() as f64 / elapsed).round(),
        "ok_per_s": (ok as f64 / elapsed).round(),
        "latency": percentiles(&latencies),
        "statuses": statuses,
    }))
}
