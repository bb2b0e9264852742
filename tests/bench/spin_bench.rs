//! `cargo run --profile host -p session-gateway-tests --bin spin-bench -- --spin PATH
//!   [--world p2|p3|both] [--rounds 3] [--seconds 8] [--connections 32] [--requests 1000]`
//!
//! A paired, interleaved benchmark under a real Spin binary (not this project's host). It
//! starts one real `redis-server`, an origin that never stalls by itself, and one `spin up`
//! per target (own port, own `--state-dir`), for each world benchmarked (`--world`, default
//! `p2`: the wasi:http 0.2 build, which every Spin loads; `p3` and `both` need a Spin that
//! loads wasi:http 0.3 components, Spin main):
//!
//! - the floor of that world (`tests/floor-p2`, `tests/floor`: one outbound Redis GET and
//!   one forward, the least this design does for an authenticated request);
//! - the gateway (spin.toml for p2, spin-p3.toml for p3) configured by `SPIN_VARIABLE_*` only;
//! - the gateway configured by the shipped runtime config's static variables provider;
//! - for p3, the gateway reading sessions through the key-value store (`session_reads =
//!   key_value`, the `default` store backed by the same Redis in the runtime config);
//! - and, on the `SPIN_VARIABLE_*` gateway, a request without a cookie (its own 401) and
//!   one on a public path (`/pub/sized`).
//!
//! Every target gets the same request (`GET /sized` with a valid session cookie; the floor
//! ignores it), and each round measures every target in turn, in an order rotated from round
//! to round, so that a drift of the machine hits all targets alike: throughput with
//! `--connections` keep-alive connections for `--seconds` (a status other than the expected
//! one is an error), then keep-alive latency (`--requests` requests one after the other on
//! one connection). Prints a table per round and the median and min–max over rounds. Exits
//! non-zero if a target does not start or its first request does not get its status.
//!
//! The load generator, Spin, Redis and the origin share this machine's cores: compare rows
//! of one run (above all each row with its own world's floor), not absolute numbers.

use session_gateway_core::redis_layout;
use session_gateway_tests::client::Reply;
use session_gateway_tests::gateway::{self, World};
use session_gateway_tests::load::{self, Figures, KeepAlive, Load, Next, drive, ms};
use session_gateway_tests::sessions::{self, KEY_A};
use session_gateway_tests::spin::{self, SpinProcess};
use session_gateway_tests::{RedisServer, SteadyOrigin};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Bound on a target's first request, and on a keep-alive series beyond its expected length.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Load on each target before round 1, not counted: connections opened, instances made.
const WARM_UP: Duration = Duration::from_secs(1);

struct Options {
    spin: PathBuf,
    worlds: Vec<World>,
    rounds: usize,
    seconds: u64,
    connections: usize,
    requests: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: spin-bench --spin PATH [--world p2|p3|both] [--rounds N] [--seconds N] [--connections N] [--requests N]\n\
         (defaults: --world p2, --rounds 3, --seconds 8, --connections 32, --requests 1000)"
    );
    std::process::exit(2);
}

fn options() -> Options {
    let mut o = Options {
        spin: PathBuf::new(),
        worlds: vec![World::P2],
        rounds: 3,
        seconds: 8,
        connections: 32,
        requests: 1000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else { usage() };
        let number = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| usage())
        };
        match flag.as_str() {
            "--spin" => o.spin = PathBuf::from(&value),
            "--world" => {
                o.worlds = match value.as_str() {
                    "p2" => vec![World::P2],
                    "p3" => vec![World::P3],
                    "both" => vec![World::P2, World::P3],
                    _ => usage(),
                }
            }
            "--rounds" => o.rounds = number(),
            "--seconds" => o.seconds = number() as u64,
            "--connections" => o.connections = number(),
            "--requests" => o.requests = number(),
            _ => usage(),
        }
    }
    if o.spin.as_os_str().is_empty() {
        usage()
    }
    o
}

fn label(world: World) -> &'static str {
    match world {
        World::P2 => "p2",
        World::P3 => "p3",
    }
}

/// One measured target: a Spin process and the request sent to it.
struct Target {
    name: String,
    world: World,
    /// The floor of its world, which the others are compared with.
    floor: bool,
    addr: SocketAddr,
    path: &'static str,
    cookie: Option<String>,
    expect: u16,
}

impl Target {
    fn headers(&self) -> Vec<(&str, &str)> {
        self.cookie.iter().map(|c| ("cookie", c.as_str())).collect()
    }

    fn next(&self) -> Next {
        let path = self.path.to_owned();
        let headers: Vec<(String, String)> = self
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        Box::new(move |_| Some((path.clone(), headers.clone())))
    }
}

/// What one round measured of one target.
#[derive(Clone, Copy, Default)]
struct Measure {
    rate: f64,
    p50: f64,
    /// Throughput errors and keep-alive responses with another status than the expected one.
    errors: f64,
    ka_p50: f64,
    ka_p90: f64,
    ka_max: f64,
    ka_slow: f64,
    /// Against this round's floor of the same world.
    ratio: f64,
    ka_p50_over_floor: f64,
    /// CPU time of processes outside this benchmark (not this process, its Spins, Redis)
    /// while this was measured, in % of one core.
    others: f64,
    /// A compiler ran while this was measured.
    disturbed: bool,
}

impl Measure {
    fn of(figures: &Figures, keepalive: &KeepAlive, others: f64, disturbed: bool) -> Self {
        Self {
            rate: figures.rate(),
            p50: ms(figures.percentile(0.5)),
            errors: (figures.errors + keepalive.unexpected) as f64,
            ka_p50: ms(keepalive.at(0.5)),
            ka_p90: ms(keepalive.at(0.9)),
            ka_max: ms(keepalive.at(1.0)),
            ka_slow: keepalive.over(load::KEEPALIVE_SLOW) as f64,
            ratio: 0.0,
            ka_p50_over_floor: 0.0,
            others,
            disturbed,
        }
    }

    /// The figures in the tables' column order, with their formats' decimals.
    fn cells(&self) -> [(f64, usize); 10] {
        [
            (self.rate, 0),
            (self.ratio, 2),
            (self.p50, 2),
            (self.errors, 0),
            (self.ka_p50, 2),
            (self.ka_p90, 2),
            (self.ka_max, 2),
            (self.ka_slow, 0),
            (self.ka_p50_over_floor, 2),
            (self.others, 0),
        ]
    }
}

const HEADINGS: [&str; 10] = [
    "req/s",
    "x floor",
    "p50 ms",
    "errors",
    "ka p50",
    "ka p90",
    "ka max",
    "ka >10ms",
    "ka p50-floor",
    "others %cpu",
];
const NAME_WIDTH: usize = 40;
const CELL_WIDTH: usize = 13;

fn heading() {
    print!("{:<NAME_WIDTH$}", "target");
    for h in HEADINGS {
        print!("{h:>CELL_WIDTH$}");
    }
    println!();
}

fn measure_row(name: &str, m: &Measure) {
    print!(
        "{:<NAME_WIDTH$}",
        format!("{name}{}", if m.disturbed { " *" } else { "" })
    );
    for (value, decimals) in m.cells() {
        print!("{:>CELL_WIDTH$}", format!("{value:.decimals$}"));
    }
    println!();
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The median over rounds of each figure, and under it their min–max.
fn summary_rows(name: &str, rounds: &[Measure]) {
    let columns: Vec<Vec<(f64, usize)>> = (0..HEADINGS.len())
        .map(|i| rounds.iter().map(|m| m.cells()[i]).collect())
        .collect();
    let disturbed = rounds.iter().filter(|m| m.disturbed).count();
    let mark = if disturbed > 0 {
        format!(" *{disturbed}")
    } else {
        String::new()
    };
    print!("{:<NAME_WIDTH$}", format!("{name}{mark}"));
    for column in &columns {
        let decimals = column[0].1;
        let mut values: Vec<f64> = column.iter().map(|(v, _)| *v).collect();
        print!("{:>CELL_WIDTH$}", format!("{:.decimals$}", median(&mut values)));
    }
    println!();
    print!("{:<NAME_WIDTH$}", "  min–max");
    for column in &columns {
        let decimals = column[0].1;
        let min = column.iter().map(|(v, _)| *v).fold(f64::INFINITY, f64::min);
        let max = column.iter().map(|(v, _)| *v).fold(f64::NEG_INFINITY, f64::max);
        print!("{:>CELL_WIDTH$}", format!("{min:.decimals$}–{max:.decimals$}"));
    }
    println!();
}

/// Compilers running on this machine now (a build beside the benchmark disturbs it).
fn builds_running() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| {
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            let comm = comm.trim();
            ["rustc", "cc", "cc1", "cc1plus", "collect2", "ld", "rust-lld", "clang"]
                .contains(&comm)
                .then(|| format!("{} {comm}", e.file_name().to_string_lossy()))
        })
        .collect()
}

/// CPU time so far, in clock ticks: of the machine (user, nice, system and steal: not the
/// interrupts, which carry this benchmark's own loopback traffic), and of this process and
/// its descendants (Spin, its trigger processes, Redis), reaped children included.
struct CpuSample {
    machine: u64,
    ours: u64,
    at: Instant,
}

/// Clock ticks per second of /proc's figures (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuSample {
    fn now() -> Self {
        let machine = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| {
                let fields: Vec<u64> = stat
                    .lines()
                    .next()?
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|f| f.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal ...
                Some(fields.first()? + fields.get(1)? + fields.get(2)? + fields.get(7).unwrap_or(&0))
            })
            .unwrap_or(0);
        // Every process's parent and CPU time (utime, stime, cutime, cstime), after the
        // command name, which may hold spaces and parentheses.
        let mut processes: Vec<(u32, u32, u64)> = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
            // After the name: state (0), ppid (1), ..., utime (11), stime (12), cutime (13), cstime (14).
            processes.push((pid, number(1) as u32, number(11) + number(12) + number(13) + number(14)));
        }
        let mut tree = vec![std::process::id()];
        let mut ours = 0;
        while let Some(parent) = tree.pop() {
            for (pid, ppid, ticks) in &processes {
                if *pid == parent {
                    ours += ticks;
                }
                if *ppid == parent {
                    tree.push(*pid);
                }
            }
        }
        Self {
            machine,
            ours,
            at: Instant::now(),
        }
    }

    /// What processes outside this benchmark used since `self`, in % of one core.
    fn others_since(&self) -> f64 {
        let now = Self::now();
        let others = (now.machine - self.machine) as f64 - (now.ours as f64 - self.ours as f64);
        (others / TICKS_PER_SECOND / self.at.elapsed().as_secs_f64() * 100.0).max(0.0)
    }
}

/// The request a target must answer first, and with its expected status.
async fn first_request(target: &Target, spin: &SpinProcess) -> Result<(), String> {
    let reply: Result<Reply, String> = match tokio::time::timeout(
        REQUEST_TIMEOUT,
        session_gateway_tests::client::send(
            target.addr,
            target
                .headers()
                .iter()
                .fold(http::Request::get(target.path), |b, (n, v)| b.header(*n, *v))
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .expect("request"),
        ),
    )
    .await
    {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(error)) => Err(format!("request failed: {error:#}")),
        Err(_) => Err(format!("no reply within {REQUEST_TIMEOUT:?}")),
    };
    match reply {
        Ok(reply) if reply.status.as_u16() == target.expect => Ok(()),
        Ok(reply) => Err(format!(
            "{}: first request GET {} answered {} (expected {}), body {:?}\n{}",
            target.name,
            target.path,
            reply.status.as_u16(),
            target.expect,
            reply.text(),
            spin.output()
        )),
        Err(error) => Err(format!(
            "{}: first request GET {}: {error}\n{}",
            target.name,
            target.path,
            spin.output()
        )),
    }
}

/// Ends a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Bench {
    o: Options,
    dir: PathBuf,
    spins: Vec<SpinProcess>,
    targets: Vec<Target>,
}

impl Bench {
    /// A `spin up` named `name` for `targets`, each checked with its first request.
    async fn start(
        &mut self,
        name: &str,
        manifest: &Path,
        env: &[(&str, &str)],
        args: &[OsString],
        targets: Vec<Target>,
    ) -> Result<(), String> {
        let spin = SpinProcess::start_with(&self.o.spin, manifest, self.dir.join(name), env, args)
            .await
            .map_err(|error| format!("{name} did not start: {error}"))?;
        for mut target in targets {
            target.addr = spin.addr;
            first_request(&target, &spin).await?;
            self.targets.push(target);
        }
        self.spins.push(spin);
        Ok(())
    }

    async fn run(&mut self) -> Result<(), String> {
        gateway::ensure_component_built();
        let floors: Vec<(World, PathBuf)> = self
            .o
            .worlds
            .iter()
            .map(|w| (*w, gateway::ensure_floor_built(*w)))
            .collect();
        let redis = RedisServer::start();
        let origin = SteadyOrigin::start().await;
        let (origin_url, redis_url) = (origin.url(), redis.url());
        let mut conn = redis.connection().map_err(|e| format!("redis: {e}"))?;
        let value = sessions::create(&mut conn, "bench-user", serde_json::json!({"role": "user"}), KEY_A);
        // The floor's GET reads a record as large as the session's, not a missing key.
        let key = redis_layout::session_key(sessions::PREFIX, &sessions::id_of(&value));
        let record: Vec<u8> = redis::cmd("GET")
            .arg(&key)
            .query(&mut conn)
            .map_err(|e| e.to_string())?;
        redis::cmd("SET")
            .arg("floor:session")
            .arg(record)
            .query::<()>(&mut conn)
            .map_err(|e| e.to_string())?;
        let cookie = Some(format!("sgw_session={value}"));
        let vars = [
            ("origin_url", origin_url.as_str()),
            ("redis_address", redis_url.as_str()),
            ("session_keys", KEY_A),
            ("public_paths", "/pub"),
        ];
        let given: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let runtime_config = gateway::runtime_config_with(&given);
        let key_value_config = gateway::runtime_config_reading_key_value(&given, &redis_url);
        let config_arg = |file: &Path| vec![OsString::from("--runtime-config-file"), file.as_os_str().to_owned()];
        for (world, floor) in floors {
            let w = label(world);
            let target = |name: &str, path: &'static str, cookie: &Option<String>, expect: u16| Target {
                name: format!("{w} {name}"),
                world,
                floor: name == "floor",
                addr: ([127, 0, 0, 1], 0).into(),
                path,
                cookie: cookie.clone(),
                expect,
            };
            let manifest = gateway::manifest_of(world);
            self.start(
                &format!("{w}-floor"),
                &floor,
                &vars[..2],
                &[],
                vec![target("floor", "/sized", &cookie, 200)],
            )
            .await?;
            self.start(
                &format!("{w}-env"),
                &manifest,
                &vars,
                &[],
                vec![
                    target("gateway, env", "/sized", &cookie, 200),
                    target("gateway, env, no cookie (401)", "/sized", &None, 401),
                    target("gateway, env, public /pub/sized", "/pub/sized", &None, 200),
                ],
            )
            .await?;
            self.start(
                &format!("{w}-runtime-config"),
                &manifest,
                &[],
                &config_arg(&runtime_config),
                vec![target("gateway, runtime config", "/sized", &cookie, 200)],
            )
            .await?;
            if world == World::P3 {
                self.start(
                    &format!("{w}-key-value"),
                    &manifest,
                    &[],
                    &config_arg(&key_value_config),
                    vec![target("gateway, runtime config, kv reads", "/sized", &cookie, 200)],
                )
                .await?;
            }
        }
        let load = Load {
            connections: self.o.connections,
            duration: Duration::from_secs(self.o.seconds),
        };
        for target in &self.targets {
            drive(
                target.addr,
                &target.next(),
                target.expect,
                Load {
                    duration: WARM_UP,
                    ..load
                },
            )
            .await;
        }
        // Looked for twice a second while measuring (a look is a few milliseconds).
        let compiling = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn({
            let compiling = compiling.clone();
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if !builds_running().is_empty() {
                        compiling.store(true, Ordering::Relaxed);
                    }
                }
            }
        });
        let _stop_watching = AbortOnDrop(watcher);
        let n = self.targets.len();
        let mut rounds: Vec<Vec<Measure>> = Vec::new();
        for round in 0..self.o.rounds {
            // Rotated by a share of the list per round, so each target takes another place.
            let shift = round * n / self.o.rounds;
            let order: Vec<usize> = (0..n).map(|i| (i + shift) % n).collect();
            let mut measures = vec![Measure::default(); n];
            for &i in &order {
                let target = &self.targets[i];
                compiling.store(!builds_running().is_empty(), Ordering::Relaxed);
                let cpu = CpuSample::now();
                let figures = drive(target.addr, &target.next(), target.expect, load).await;
                let limit = REQUEST_TIMEOUT + Duration::from_millis(100) * self.o.requests as u32;
                let keepalive = tokio::time::timeout(
                    limit,
                    load::keepalive(
                        target.addr,
                        target.path,
                        &target.headers(),
                        self.o.requests,
                        http::StatusCode::from_u16(target.expect).expect("status"),
                    ),
                )
                .await
                .map_err(|_| {
                    format!(
                        "{}: {} keep-alive requests took over {limit:?}",
                        target.name, self.o.requests
                    )
                })?
                .map_err(|e| format!("{}: keep-alive connection failed: {e:#}", target.name))?;
                let disturbed = compiling.load(Ordering::Relaxed) || !builds_running().is_empty();
                let others = cpu.others_since();
                measures[i] = Measure::of(&figures, &keepalive, others, disturbed);
            }
            for i in 0..n {
                let floor = self
                    .targets
                    .iter()
                    .position(|t| t.world == self.targets[i].world && t.floor)
                    .map(|f| measures[f])
                    .unwrap_or_default();
                measures[i].ratio = measures[i].rate / floor.rate;
                measures[i].ka_p50_over_floor = measures[i].ka_p50 - floor.ka_p50;
            }
            let names: Vec<&str> = order.iter().map(|&i| self.targets[i].name.as_str()).collect();
            println!(
                "\nround {} of {}, measured in this order: {}",
                round + 1,
                self.o.rounds,
                names.join(" | ")
            );
            heading();
            for (target, measure) in self.targets.iter().zip(&measures) {
                measure_row(&target.name, measure);
            }
            rounds.push(measures);
        }
        println!(
            "\nsummary: median over {} rounds, and under it the min–max over rounds",
            self.o.rounds
        );
        heading();
        for (i, target) in self.targets.iter().enumerate() {
            let per_round: Vec<Measure> = rounds.iter().map(|r| r[i]).collect();
            summary_rows(&target.name, &per_round);
        }
        let (c, r) = (self.o.connections, self.o.requests);
        println!(
            "\nenv: variables by SPIN_VARIABLE_* only; runtime config: the shipped runtime-config.toml (static provider);\n\
             kv reads: also session_reads = key_value, the default key-value store backed by the same Redis.\n\
             req/s, p50 ms: {c} keep-alive connections; x floor: req/s over the same round's floor of the same world.\n\
             ka: keep-alive, {r} requests one after the other on one connection (ms); ka p50-floor: ka p50 minus the floor's.\n\
             errors: other statuses or failed exchanges, throughput and keep-alive together.\n\
             others %cpu: CPU time of processes outside this benchmark (and hypervisor steal) while the row was measured,\n\
             in % of one core: anything over a few % disturbed the row.\n\
             The 401 and public-path rows do other work than the floor (no Redis read): their ratio is for scale only."
        );
        if rounds.iter().flatten().any(|m| m.disturbed) {
            println!(
                "* a compiler or linker (rustc, cc, ld) was running on this machine while this row was measured (*N: in N rounds)"
            );
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    let o = options();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let worlds: Vec<&str> = o.worlds.iter().map(|w| label(*w)).collect();
    println!("spin:    {} ({})", o.spin.display(), spin::version(&o.spin));
    println!("worlds:  {} (--world p2|p3|both; default p2)", worlds.join(", "));
    println!(
        "load:    {} rounds; per target and round {} s with {} keep-alive connections, then {} keep-alive requests one after the other; {} s warm-up per target first",
        o.rounds,
        o.seconds,
        o.connections,
        o.requests,
        WARM_UP.as_secs()
    );
    println!("machine: {cores} cores, shared by the load generator, Spin, Redis and the origin");
    let backtrace = std::env::var("RUST_BACKTRACE").ok();
    println!(
        "RUST_BACKTRACE: unset for Spin ({})",
        backtrace.map_or("not set here either".to_owned(), |v| format!(
            "set to {v:?} here, removed from Spin's environment"
        ))
    );
    let builds = builds_running();
    if !builds.is_empty() {
        println!("WARNING: compilers running at start: {}", builds.join(", "));
    }
    let dir = std::env::temp_dir().join(format!("sgw-spin-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut bench = Bench {
        o,
        dir: dir.clone(),
        spins: Vec::new(),
        targets: Vec::new(),
    };
    // On Ctrl-C the run's future is dropped; every SpinProcess goes with `bench` (their own
    // process groups do not get the terminal's SIGINT).
    let result = tokio::select! {
        result = bench.run() => Some(result),
        _ = tokio::signal::ctrl_c() => None,
    };
    drop(bench);
    match result {
        Some(Ok(())) => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Some(Err(error)) => {
            eprintln!("spin-bench FAILED: {error}\nSpin output kept in {}", dir.display());
            std::process::exit(1);
        }
        None => {
            println!("interrupted; files kept in {}", dir.display());
            std::process::exit(130);
        }
    }
}
