//! Load for the benchmarks: keep-alive connections sending requests back to back
//! ([`drive`]), and keep-alive latency as a browser sees it ([`keepalive`]: one connection,
//! requests one after the other).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How hard [`drive`] pushes: this many keep-alive connections for this long.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: usize,
    pub duration: Duration,
}

/// What one [`drive`] measured: requests answered with the expected status (and their
/// latencies, sorted), and the others (another status, a failed connection or exchange).
pub struct Figures {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Figures {
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies[((self.latencies.len() as f64 - 1.0) * p).round() as usize]
    }

    /// Requests answered as expected, per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// A scenario's request number `i`: path and extra headers; `None` once it has run out.
pub type Next = Box<dyn Fn(usize) -> Option<(String, Vec<(String, String)>)> + Sync>;

/// `load.connections` keep-alive connections, each sending requests back to back for
/// `load.duration`; a response with another status than `expect` counts as an error.
pub async fn drive(addr: SocketAddr, next: &Next, expect: u16, load: Load) -> Figures {
    let deadline = Instant::now() + load.duration;
    let start = Instant::now();
    let counter = AtomicUsize::new(0);
    let workers = (0..load.connections).map(|_| async {
        let (mut latencies, mut errors) = (Vec::new(), 0usize);
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            return (latencies, 1);
        };
        stream.set_nodelay(true).expect("nodelay");
        let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
            return (latencies, 1);
        };
        tokio::spawn(conn);
        while Instant::now() < deadline {
            let Some((path, headers)) = next(counter.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            let mut request = http::Request::get(path.as_str()).header("host", addr.to_string());
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            let t = Instant::now();
            if sender.ready().await.is_err() {
                errors += 1;
                break;
            }
            match sender
                .send_request(request.body(Empty::<Bytes>::new()).expect("request"))
                .await
            {
                Ok(response) => {
                    let ok = response.status().as_u16() == expect;
                    let _ = response.into_body().collect().await;
                    if ok {
                        latencies.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                Err(_) => {
                    errors += 1;
                    break;
                }
            }
        }
        (latencies, errors)
    });
    let mut figures = Figures {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for (latencies, errors) in futures::future::join_all(workers).await {
        figures.requests += latencies.len();
        figures.errors += errors;
        figures.latencies.extend(latencies);
    }
    figures.elapsed = start.elapsed();
    figures.latencies.sort();
    figures
}

/// Keep-alive latency: the times of requests one after the other on one connection.
pub struct KeepAlive {
    /// Sorted.
    pub times: Vec<Duration>,
    /// Responses whose status was not the expected one.
    pub unexpected: usize,
}

/// Over this, a keep-alive response most likely waited for a delayed ACK (about 40 ms on
/// Linux); one that did not takes a few milliseconds at most.
pub const KEEPALIVE_SLOW: Duration = Duration::from_millis(10);

impl KeepAlive {
    pub fn at(&self, p: f64) -> Duration {
        if self.times.is_empty() {
            return Duration::ZERO;
        }
        self.times[((self.times.len() - 1) as f64 * p).round() as usize]
    }

    /// How many took longer than `limit`.
    pub fn over(&self, limit: Duration) -> usize {
        self.times.iter().filter(|t| **t > limit).count()
    }
}

/// `n` GETs of `path` with `headers`, one after the other on one keep-alive connection.
pub async fn keepalive(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    n: usize,
    expect: http::StatusCode,
) -> anyhow::Result<KeepAlive> {
    let replies = crate::client::sequential(addr, path, headers, n).await?;
    let unexpected = replies.iter().filter(|(s, _)| *s != expect).count();
    let mut times: Vec<Duration> = replies.into_iter().map(|(_, t)| t).collect();
    times.sort();
    Ok(KeepAlive { times, unexpected })
}

/// Milliseconds, as the benchmarks print them.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
