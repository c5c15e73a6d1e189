//! The flash sale: thousands of buyers race for one big showtime until it is sold out, then
//! the result is checked against the promise (each ticket sold at most once, sold = tickets
//! of confirmed orders = tickets of successful purchase responses, nothing left held).

use crate::report::{histogram, percentiles, plot};
use crate::resources::{CommitCounters, Database, Probe};
use crate::stream::{LiveView, follow};
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Simulated users; each registers, then buys 1–4 tickets at a time until sold out.
    #[arg(long, default_value_t = 5000)]
    buyers: usize,
    /// Concurrent connections (buyers in flight at once).
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// The showtime to sell; default: the one with the most tickets.
    #[arg(long)]
    showtime: Option<String>,
    /// One buyer in this many holds general-admission places instead of seats.
    #[arg(long, default_value_t = 5)]
    ga_one_in: usize,
    /// Write an SVG plot of purchases/s and p99 hold latency over the sale here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// The server's process id, to sample its memory (VmRSS) every second.
    #[arg(long)]
    server_pid: Option<u32>,
    /// More nodes of the same database (e.g. `--node http://127.0.0.1:8081`, repeatable):
    /// buyers are spread round-robin over `--base` and these.
    #[arg(long = "node")]
    nodes: Vec<String>,
    /// How buyers learn which seats are free: `poll` the availability view before each
    /// attempt, or follow the showtime's event `stream` as the seat-map page does (one stream
    /// per connection, each shared by the buyers using that connection).
    #[arg(long, value_enum, default_value_t = AvailabilityMode::Poll)]
    availability: AvailabilityMode,
    /// Seconds of `/healthz` at the sale's concurrency before it opens: the HTTP ceiling of
    /// the same run, from which the HTTP bound on purchases is computed (0: skip).
    #[arg(long, default_value_t = 5)]
    http_ceiling_secs: u64,
    /// The PostgreSQL database the server uses, to count its CPU time and WAL syncs; unset:
    /// the database is SQLite, inside the server's process.
    #[arg(long)]
    postgres_url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AvailabilityMode {
    Poll,
    Stream,
}

#[derive(Deserialize)]
pub(crate) struct SeatMap {
    pub(crate) available: i64,
    pub(crate) held: i64,
    pub(crate) sold: i64,
    pub(crate) tickets: Vec<SeatTicket>,
}

#[derive(Deserialize)]
pub(crate) struct SeatTicket {
    pub(crate) id: String,
    section: String,
    pub(crate) row: Option<String>,
}

/// Everything the buyers measure, shared.
pub(crate) struct Stats {
    started: Instant,
    seat_map: Mutex<Histogram<u64>>,
    hold: Mutex<Histogram<u64>>,
    order: Mutex<Histogram<u64>>,
    holds_ok: AtomicU64,
    hold_attempts: AtomicU64,
    /// Every request a buyer sent during the sale (availability, holds, orders, streams).
    requests: AtomicU64,
    conflicts: AtomicU64,
    purchases: AtomicU64,
    pub(crate) statuses: Mutex<BTreeMap<String, u64>>,
    /// Per second since the start: purchases, and hold latencies.
    seconds: Mutex<Vec<(u64, Histogram<u64>)>>,
    /// Every purchase the server acknowledged (201): order id and ticket ids.
    pub(crate) acknowledged: Mutex<Vec<(String, Vec<String>)>>,
    last_sale: Mutex<Duration>,
    sold_out: AtomicBool,
    gave_up_for_lack_of_seats: AtomicU64,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            seat_map: Mutex::new(histogram()),
            hold: Mutex::new(histogram()),
            order: Mutex::new(histogram()),
            holds_ok: AtomicU64::new(0),
            hold_attempts: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
            purchases: AtomicU64::new(0),
            statuses: Mutex::new(BTreeMap::new()),
            seconds: Mutex::new(Vec::new()),
            acknowledged: Mutex::new(Vec::new()),
            last_sale: Mutex::new(Duration::ZERO),
            sold_out: AtomicBool::new(false),
            gave_up_for_lack_of_seats: AtomicU64::new(0),
        }
    }

    fn second(&self) -> usize {
        self.started.elapsed().as_secs() as usize
    }

    pub(crate) fn count(&self, what: &str, status: u16) {
        *self.statuses.lock().unwrap().entry(format!("{what} {status}")).or_default() += 1;
    }

    pub(crate) fn record_hold(&self, latency: Duration) {
        let micros = latency.as_micros() as u64;
        let _ = self.hold.lock().unwrap().record(micros);
        let second = self.second();
        let mut seconds = self.seconds.lock().unwrap();
        while seconds.len() <= second {
            seconds.push((0, histogram()));
        }
        let _ = seconds[second].1.record(micros);
    }

    pub(crate) fn record_purchase(&self, order: String, tickets: Vec<String>) {
        self.purchases.fetch_add(1, Ordering::Relaxed);
        let second = self.second();
        {
            let mut seconds = self.seconds.lock().unwrap();
            while seconds.len() <= second {
                seconds.push((0, histogram()));
            }
            seconds[second].0 += 1;
        }
        self.acknowledged.lock().unwrap().push((order, tickets));
        *self.last_sale.lock().unwrap() = self.started.elapsed();
    }
}

/// A small xorshift generator: the bench needs variety, not cryptography.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new() -> Self {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Self(u64::from_le_bytes(seed) | 1)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

pub(crate) async fn biggest_showtime(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let events: Value = client.get(format!("{base}/api/v1/events?limit=100")).send().await?.json().await?;
    let mut best: Option<(i64, String)> = None;
    for event in events["items"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let detail: Value = client
            .get(format!("{base}/api/v1/events/{}", event["id"].as_str().unwrap_or_default()))
            .send()
            .await?
            .json()
            .await?;
        for showtime in detail["showtimes"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let seats = showtime["seats_available"].as_i64().unwrap_or(0);
            if best.as_ref().is_none_or(|(most, _)| seats > *most) {
                best = Some((seats, showtime["id"].as_str().unwrap_or_default().to_owned()));
            }
        }
    }
    best.map(|(_, id)| id).ok_or_else(|| anyhow::anyhow!("no showtime on sale"))
}

pub(crate) async fn register(
    client: &reqwest::Client,
    base: &str,
    buyers: usize,
) -> anyhow::Result<Vec<String>> {
    let run = format!(
        "{:x}",
        Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id()) ^ u128::from(Rng::new().0)
    );
    let permits = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::new();
    for buyer in 0..buyers {
        let (client, base, permits, run) = (client.clone(), base.to_owned(), permits.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await?;
            let body = json!({"email": format!("buyer{buyer}-{run}@bench.example"), "password": "bench password 123"});
            let response: Value = client.post(format!("{base}/api/v1/auth/register")).json(&body).send().await?.json().await?;
            response["token"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("registration failed: {response}"))
        }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await??);
    }
    Ok(tokens)
}

pub(crate) fn memory_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[derive(Deserialize)]
pub(crate) struct Availability {
    pub(crate) statuses: String,
}

/// What a buyer saw free: seats, and general-admission places.
pub(crate) struct FreePlaces<'a> {
    seated: Vec<&'a SeatTicket>,
    floor: Vec<&'a SeatTicket>,
}

impl<'a> FreePlaces<'a> {
    /// From an availability string (one status letter per ticket, in layout order); `None`
    /// when nothing is free.
    pub(crate) fn of(statuses: &[u8], layout: &'a [SeatTicket]) -> Option<Self> {
        let free =
            statuses.iter().zip(layout).filter(|(status, _)| **status == b'A').map(|(_, ticket)| ticket);
        let (seated, floor): (Vec<&SeatTicket>, Vec<&SeatTicket>) = free.partition(|t| t.row.is_some());
        (!seated.is_empty() || !floor.is_empty()).then_some(Self { seated, floor })
    }

    /// A hold request for `want` places: GA places (`ga` buyers, or when no seat is left), or
    /// seats together — a run of neighbours in seat-map order from a random start.
    pub(crate) fn hold_body(&self, showtime: &str, want: usize, ga: bool, rng: &mut Rng) -> Value {
        let (seated, floor) = (&self.seated, &self.floor);
        if (ga && !floor.is_empty()) || seated.is_empty() {
            return json!({"showtime_id": showtime, "section": floor[0].section, "quantity": want.min(floor.len())});
        }
        let start = rng.below(seated.len());
        let ids: Vec<&str> =
            seated.iter().cycle().skip(start).take(want.min(seated.len())).map(|t| t.id.as_str()).collect();
        json!({"showtime_id": showtime, "ticket_ids": ids})
    }
}

/// One buyer's visit: look at the live availability (the layout was loaded once, as a page
/// does) — polled, or from the page's event stream (`view`) — pick seats or GA places, hold,
/// pay. Returns false when nothing is left to buy.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn visit(
    client: &reqwest::Client,
    base: &str,
    showtime: &str,
    layout: &[SeatTicket],
    view: Option<&LiveView>,
    token: &str,
    ga: bool,
    stats: &Stats,
    rng: &mut Rng,
) -> bool {
    let statuses = match view {
        Some(view) => view.statuses(),
        None => {
            let sent = Instant::now();
            stats.requests.fetch_add(1, Ordering::Relaxed);
            let Ok(response) =
                client.get(format!("{base}/api/v1/showtimes/{showtime}/availability")).send().await
            else {
                stats.count("availability", 0);
                return true;
            };
            let Ok(map) = response.json::<Availability>().await else {
                stats.count("availability", 0);
                return true;
            };
            let _ = stats.seat_map.lock().unwrap().record(sent.elapsed().as_micros() as u64);
            map.statuses.into_bytes()
        }
    };
    let Some(free) = FreePlaces::of(&statuses, layout) else { return false };
    let want = 1 + rng.below(4);
    for _attempt in 0..3 {
        let body = free.hold_body(showtime, want, ga, rng);
        stats.hold_attempts.fetch_add(1, Ordering::Relaxed);
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let Ok(response) =
            client.post(format!("{base}/api/v1/holds")).bearer_auth(token).json(&body).send().await
        else {
            stats.count("hold", 0);
            continue;
        };
        stats.record_hold(sent.elapsed());
        let status = response.status().as_u16();
        stats.count("hold", status);
        if status == 409 {
            stats.conflicts.fetch_add(1, Ordering::Relaxed);
            let _ = response.bytes().await;
            continue;
        }
        let Ok(hold) = response.json::<Value>().await else { continue };
        if status != 201 {
            return true;
        }
        stats.holds_ok.fetch_add(1, Ordering::Relaxed);
        let body = json!({"hold_id": hold["id"], "payment_token": "tok_visa"});
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let Ok(response) =
            client.post(format!("{base}/api/v1/orders")).bearer_auth(token).json(&body).send().await
        else {
            stats.count("order", 0);
            return true;
        };
        let _ = stats.order.lock().unwrap().record(sent.elapsed().as_micros() as u64);
        let status = response.status().as_u16();
        stats.count("order", status);
        if status == 201
            && let Ok(purchase) = response.json::<Value>().await
        {
            let tickets = purchase["tickets"].as_array().map(Vec::as_slice).unwrap_or_default();
            stats.record_purchase(
                purchase["order"]["id"].as_str().unwrap_or_default().to_owned(),
                tickets.iter().filter_map(|t| t["id"].as_str().map(str::to_owned)).collect(),
            );
        }
        return true;
    }
    true
}

pub async fn run(base: &str, options: Options) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections)
        .timeout(Duration::from_secs(60))
        .build()?;
    let showtime = match options.showtime.clone() {
        Some(id) => id,
        None => biggest_showtime(&client, base).await?,
    };
    // The HTTP ceiling of this run, at the sale's concurrency, before anything is sold.
    let healthz_per_s = if options.http_ceiling_secs > 0 {
        let healthz = crate::load::run(
            "healthz",
            base,
            vec![format!("{base}/healthz")],
            options.connections,
            options.http_ceiling_secs,
        )
        .await?;
        healthz["requests_per_s"].as_f64()
    } else {
        None
    };
    let before: SeatMap =
        client.get(format!("{base}/api/v1/showtimes/{showtime}/seats")).send().await?.json().await?;
    let tickets = before.tickets.len();
    let sold_before = before.sold;
    eprintln!(
        "showtime {showtime}: {tickets} tickets ({} available); registering {} buyers…",
        before.available, options.buyers
    );
    let registration = Instant::now();
    let tokens = Arc::new(register(&client, base, options.buyers).await?);
    let registration_s = registration.elapsed().as_secs_f64();
    eprintln!("registered in {registration_s:.1} s; the sale opens");

    let layout = Arc::new(before.tickets);
    let permits = Arc::new(Semaphore::new(options.connections));
    let nodes: Vec<String> = std::iter::once(base.to_owned())
        .chain(options.nodes.iter().map(|node| node.trim_end_matches('/').to_owned()))
        .collect();
    // Following the stream: one open page per connection, each page's stream shared by the
    // buyers that use it; a buyer starts once its page has its first snapshot.
    let stream_stop = Arc::new(AtomicBool::new(false));
    let stream_requests = Arc::new(AtomicU64::new(0));
    let mut views: Vec<Arc<LiveView>> = Vec::new();
    let mut followers = Vec::new();
    if options.availability == AvailabilityMode::Stream {
        let positions: Arc<std::collections::HashMap<String, usize>> =
            Arc::new(layout.iter().enumerate().map(|(at, ticket)| (ticket.id.clone(), at)).collect());
        let streams = reqwest::Client::builder().pool_max_idle_per_host(options.connections).build()?;
        for page in 0..options.connections {
            let view = Arc::new(LiveView::new(positions.clone()));
            let url = format!("{}/api/v1/showtimes/{showtime}/stream", nodes[page % nodes.len()]);
            followers.push(tokio::spawn(follow(
                streams.clone(),
                url,
                view.clone(),
                stream_stop.clone(),
                stream_requests.clone(),
            )));
            views.push(view);
        }
        let opened = Instant::now();
        while views.iter().any(|view| view.statuses().is_empty()) {
            anyhow::ensure!(
                opened.elapsed() < Duration::from_secs(60),
                "the streams gave no snapshot within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let views = Arc::new(views);
    // The sale opens: costs and times count from here.
    let commits_before = CommitCounters::read(&client, base).await;
    let probe = Probe::start(
        options.server_pid,
        match &options.postgres_url {
            Some(url) => Database::Postgres { url: url.clone() },
            None => Database::Embedded,
        },
    )
    .await;
    let stats = Arc::new(Stats::new());
    let memory: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let sampler = options.server_pid.map(|pid| {
        let (memory, stats) = (memory.clone(), stats.clone());
        tokio::spawn(async move {
            while !stats.sold_out.load(Ordering::Relaxed) {
                if let Some(kib) = memory_kib(pid) {
                    memory.lock().unwrap().push(kib);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    });
    // The streams' connections are counted as requests of the sale, made before it opened.
    stats.requests.fetch_add(stream_requests.swap(0, Ordering::Relaxed), Ordering::Relaxed);
    let mut buyers = Vec::new();
    for buyer in 0..options.buyers {
        let (client, base, showtime, tokens, stats, permits, layout, views) = (
            client.clone(),
            nodes[buyer % nodes.len()].clone(),
            showtime.clone(),
            tokens.clone(),
            stats.clone(),
            permits.clone(),
            layout.clone(),
            views.clone(),
        );
        let ga = options.ga_one_in > 0 && buyer % options.ga_one_in == 0;
        buyers.push(tokio::spawn(async move {
            let mut rng = Rng::new();
            loop {
                if stats.sold_out.load(Ordering::Relaxed) {
                    stats.gave_up_for_lack_of_seats.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let Ok(_permit) = permits.acquire().await else { return };
                let view = (!views.is_empty()).then(|| views[buyer % views.len()].as_ref());
                if !visit(&client, &base, &showtime, &layout, view, &tokens[buyer], ga, &stats, &mut rng)
                    .await
                {
                    stats.sold_out.store(true, Ordering::Relaxed);
                    stats.gave_up_for_lack_of_seats.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }));
    }
    for buyer in buyers {
        buyer.await?;
    }
    stats.sold_out.store(true, Ordering::Relaxed);
    let purchases = stats.purchases.load(Ordering::Relaxed);
    let costs = probe.finish(purchases).await;
    let commits = match (&commits_before, CommitCounters::read(&client, base).await) {
        (Some(before), Some(after)) => before.since(&after, purchases),
        _ => Value::Null,
    };
    stream_stop.store(true, Ordering::Relaxed);
    for follower in followers {
        follower.abort();
    }
    stats.requests.fetch_add(stream_requests.load(Ordering::Relaxed), Ordering::Relaxed);
    if let Some(sampler) = sampler {
        let _ = sampler.await;
    }
    let sale_s = stats.last_sale.lock().unwrap().as_secs_f64();
    let wall_s = stats.started.elapsed().as_secs_f64();

    // The invariant, read back from the API.
    let after: SeatMap =
        client.get(format!("{base}/api/v1/showtimes/{showtime}/seats")).send().await?.json().await?;
    let bought: Vec<String> =
        stats.acknowledged.lock().unwrap().iter().flat_map(|(_, tickets)| tickets.iter().cloned()).collect();
    let unique: BTreeSet<&String> = bought.iter().collect();
    let mut in_orders = Vec::new();
    let permits = Arc::new(Semaphore::new(64));
    let mut reads = Vec::new();
    for token in tokens.iter() {
        let (client, base, permits, showtime, token) =
            (client.clone(), base.to_owned(), permits.clone(), showtime.clone(), token.clone());
        reads.push(tokio::spawn(async move {
            let _permit = permits.acquire().await.ok()?;
            // Every page: a buyer who came back often has more than one page of orders.
            let mut ids = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut request = client.get(format!("{base}/api/v1/orders")).query(&[("limit", "100")]);
                if let Some(cursor) = &cursor {
                    request = request.query(&[("cursor", cursor)]);
                }
                let page: Value = request.bearer_auth(&token).send().await.ok()?.json().await.ok()?;
                ids.extend(
                    page["items"]
                        .as_array()?
                        .iter()
                        .filter(|o| {
                            o["order"]["status"] == "confirmed"
                                && o["order"]["showtime_id"] == showtime.as_str()
                        })
                        .flat_map(|o| o["tickets"].as_array().cloned().unwrap_or_default())
                        .filter_map(|t| t["id"].as_str().map(str::to_owned)),
                );
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            Some(ids)
        }));
    }
    for read in reads {
        in_orders.extend(read.await?.unwrap_or_default());
    }
    let order_unique: BTreeSet<&String> = in_orders.iter().collect();
    let invariant = json!({
        "each_ticket_sold_at_most_once": unique.len() == bought.len() && order_unique.len() == in_orders.len(),
        "sold_equals_successful_responses": after.sold as usize == sold_before as usize + bought.len(),
        "sold_equals_tickets_in_confirmed_orders": in_orders.len() == bought.len(),
        "nothing_left_held": after.held == 0,
        "nothing_available_when_buyers_gave_up": after.available == 0 || stats.gave_up_for_lack_of_seats.load(Ordering::Relaxed) == 0,
        "sold": after.sold, "held": after.held, "available": after.available,
        "tickets_in_successful_responses": bought.len(), "tickets_in_confirmed_orders": in_orders.len(),
    });
    let ok = [
        "each_ticket_sold_at_most_once",
        "sold_equals_successful_responses",
        "sold_equals_tickets_in_confirmed_orders",
        "nothing_left_held",
        "nothing_available_when_buyers_gave_up",
    ]
    .iter()
    .all(|key| invariant[*key] == true);

    let seconds = stats.seconds.lock().unwrap();
    let timeline: Vec<(f64, f64, f64)> = seconds
        .iter()
        .enumerate()
        .map(|(second, (purchases, holds))| {
            (second as f64, *purchases as f64, holds.value_at_quantile(0.99) as f64 / 1000.0)
        })
        .collect();
    let peak_purchases = timeline.iter().map(|p| p.1).fold(0.0, f64::max);
    if let Some(path) = &options.plot {
        std::fs::write(
            path,
            plot(
                &format!(
                    "Flash sale: {} tickets, {} buyers, {} connections",
                    tickets, options.buyers, options.connections
                ),
                &timeline,
            ),
        )?;
    }
    let memory = memory.lock().unwrap().clone();
    let attempts = stats.hold_attempts.load(Ordering::Relaxed).max(1);
    let purchases_per_s = purchases as f64 / sale_s.max(0.001);
    // Requests per purchase, and what that allows at this run's /healthz rate: the HTTP bound.
    let requests = stats.requests.load(Ordering::Relaxed);
    let requests_per_purchase = requests as f64 / purchases.max(1) as f64;
    let http_bound = healthz_per_s.map(|healthz| healthz / requests_per_purchase.max(1.0));
    Ok(json!({
        "scenario": "flash-sale",
        "showtime": showtime,
        "tickets": tickets,
        "buyers": options.buyers,
        "connections": options.connections,
        "registration_s": (registration_s * 10.0).round() / 10.0,
        "time_to_sell_out_s": (sale_s * 100.0).round() / 100.0,
        "wall_s": (wall_s * 100.0).round() / 100.0,
        "availability": format!("{:?}", options.availability).to_lowercase(),
        "purchases": purchases,
        "purchases_per_s": purchases_per_s.round(),
        "requests": requests,
        "requests_per_purchase": (requests_per_purchase * 100.0).round() / 100.0,
        "healthz_per_s": healthz_per_s,
        "http_bound_purchases_per_s": http_bound.map(f64::round),
        "ratio_to_http_bound": http_bound.map(|bound| (purchases_per_s / bound * 1000.0).round() / 1000.0),
        "costs": costs,
        "commit_pipeline": commits,
        "purchases_per_s_peak": peak_purchases,
        "tickets_per_s": (bought.len() as f64 / sale_s.max(0.001)).round(),
        "holds_per_s": (stats.holds_ok.load(Ordering::Relaxed) as f64 / sale_s.max(0.001)).round(),
        "conflict_rate": ((stats.conflicts.load(Ordering::Relaxed) as f64 / attempts as f64) * 1000.0).round() / 1000.0,
        "latency_availability": percentiles(&stats.seat_map.lock().unwrap()),
        "latency_hold": percentiles(&stats.hold.lock().unwrap()),
        "latency_order": percentiles(&stats.order.lock().unwrap()),
        "statuses": *stats.statuses.lock().unwrap(),
        "server_memory_mib": json!({
            "first": memory.first().map(|k| k / 1024),
            "peak": memory.iter().max().map(|k| k / 1024),
            "last": memory.last().map(|k| k / 1024),
        }),
        "invariant_ok": ok,
        "invariant": invariant,
        "timeline": timeline,
    }))
}
