//! `sgw`: works on the same Redis, record format, keys and cookie signing as the gateway.
//!
//! Settings come from the same variables the gateway reads (`SPIN_VARIABLE_REDIS_ADDRESS`,
//! `SPIN_VARIABLE_SESSION_KEYS`, `SPIN_VARIABLE_KEY_PREFIX`) or from flags.

use session_gateway_core::config::{KEY_PREFIX, REDIS_ADDRESS, SESSION_KEYS, defaults};
use session_gateway_core::cookie_codec::{CookieCodec, SessionId, SignedCookieV1};
use session_gateway_core::keys::KeyRing;
use session_gateway_core::session::{GatewayRecordDecoder, SessionDecoder, SessionRecordV1};
use std::process::ExitCode;

const USAGE: &str = "usage: sgw <command> [options]

commands:
  create --user ID [--data JSON] [--ttl SECONDS]   write a new session, print its cookie value
  show (--cookie VALUE | --id ID)                   print a session record as JSON

options (each also read from the environment):
  --redis URL        SPIN_VARIABLE_REDIS_ADDRESS   (default redis://127.0.0.1:6379)
  --keys SECRETS     SPIN_VARIABLE_SESSION_KEYS    (comma-separated; the first signs)
  --prefix PREFIX    SPIN_VARIABLE_KEY_PREFIX      (default sgw:session:)

exit codes: 0 success, 1 not found or invalid session, 2 usage or configuration error, 3 Redis error";

/// Exit codes a script can rely on.
enum Failure {
    NotFound(String),
    Usage(String),
    Redis(String),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::NotFound(m)) => {
            eprintln!("sgw: {m}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(m)) => {
            eprintln!("sgw: {m}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Redis(m)) => {
            eprintln!("sgw: redis: {m}");
            ExitCode::from(3)
        }
    }
}

struct Options {
    flags: Vec<(String, String)>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, Failure> {
        let mut flags = Vec::new();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if !flag.starts_with("--") {
                return Err(Failure::Usage(format!("unexpected argument `{flag}`")));
            }
            let value = it
                .next()
                .ok_or_else(|| Failure::Usage(format!("{flag} needs a value")))?;
            flags.push((flag[2..].to_owned(), value.clone()));
        }
        Ok(Self { flags })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A flag, else the gateway's Spin variable from the environment.
    fn setting(&self, flag: &str, variable: &str) -> Option<String> {
        self.get(flag)
            .map(str::to_owned)
            .or_else(|| std::env::var(format!("SPIN_VARIABLE_{}", variable.to_ascii_uppercase())).ok())
            .filter(|v| !v.is_empty())
    }

    fn redis(&self) -> Result<redis::Connection, Failure> {
        let url = self
            .setting("redis", REDIS_ADDRESS)
            .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
        redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .map_err(|e| Failure::Redis(e.to_string()))
    }

    fn codec(&self) -> Result<SignedCookieV1, Failure> {
        let keys = self
            .setting("keys", SESSION_KEYS)
            .ok_or_else(|| Failure::Usage("no signing keys: pass --keys or set SPIN_VARIABLE_SESSION_KEYS".into()))?;
        KeyRing::parse(&keys)
            .map(SignedCookieV1::new)
            .map_err(|e| Failure::Usage(format!("session keys: {e}")))
    }

    fn prefix(&self) -> String {
        self.setting("prefix", KEY_PREFIX)
            .unwrap_or_else(|| defaults::KEY_PREFIX.into())
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    let (command, rest) = args.split_first().expect("checked non-empty");
    let options = Options::parse(rest)?;
    match command.as_str() {
        "create" => create(&options),
        "show" => show(&options),
        other => Err(Failure::Usage(format!("unknown command `{other}`"))),
    }
}

fn create(options: &Options) -> Result<(), Failure> {
    let user = options
        .get("user")
        .ok_or_else(|| Failure::Usage("create needs --user".into()))?;
    let data = match options.get("data") {
        None => serde_json::Map::new(),
        Some(json) => match serde_json::from_str(json) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err(Failure::Usage("--data must be a JSON object".into())),
        },
    };
    let ttl: u64 = options
        .get("ttl")
        .map_or(Ok(3600), str::parse)
        .map_err(|_| Failure::Usage("--ttl must be a whole number of seconds".into()))?;
    if ttl == 0 {
        return Err(Failure::Usage("--ttl must be at least 1".into()));
    }
    let codec = options.codec()?;
    let record = SessionRecordV1::new(user, data, now(), ttl);
    // The record must pass the gateway's own checks, or the session would never work.
    GatewayRecordDecoder
        .decode(&record.to_json(), now())
        .map_err(|e| Failure::Usage(format!("invalid session: {e}")))?;
    let id = new_id()?;
    let key = format!("{}{}", options.prefix(), id.as_str());
    let mut redis = options.redis()?;
    redis::cmd("SET")
        .arg(&key)
        .arg(record.to_json())
        .arg("EX")
        .arg(ttl)
        .arg("NX")
        .query::<()>(&mut redis)
        .map_err(|e| Failure::Redis(e.to_string()))?;
    println!("{}", codec.encode(&id));
    Ok(())
}

fn show(options: &Options) -> Result<(), Failure> {
    let id = match (options.get("cookie"), options.get("id")) {
        (Some(cookie), None) => options
            .codec()?
            .decode(cookie)
            .map(|v| v.id().clone())
            .ok_or_else(|| Failure::NotFound("the cookie does not verify with these keys".into()))?,
        (None, Some(id)) => SessionId::parse(id).ok_or_else(|| Failure::Usage("not a session id".into()))?,
        _ => return Err(Failure::Usage("show needs exactly one of --cookie or --id".into())),
    };
    let key = format!("{}{}", options.prefix(), id.as_str());
    let mut redis = options.redis()?;
    let bytes: Option<Vec<u8>> = redis::cmd("GET")
        .arg(&key)
        .query(&mut redis)
        .map_err(|e| Failure::Redis(e.to_string()))?;
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query(&mut redis)
        .map_err(|e| Failure::Redis(e.to_string()))?;
    let bytes = bytes.ok_or_else(|| Failure::NotFound(format!("no session #{}", id.fingerprint())))?;
    let record: SessionRecordV1 =
        serde_json::from_slice(&bytes).map_err(|e| Failure::NotFound(format!("unreadable record: {e}")))?;
    let live = GatewayRecordDecoder.decode(&bytes, now()).err().map(|e| e.to_string());
    let out = serde_json::json!({
        "id_fingerprint": id.fingerprint(),
        "user_id": record.user_id,
        "data": record.data,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "ttl_secs": ttl,
        "valid": live.is_none(),
        "problem": live,
    });
    println!("{}", serde_json::to_string_pretty(&out).expect("json"));
    Ok(())
}

fn new_id() -> Result<SessionId, Failure> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Failure::Usage(format!("the operating system's CSPRNG failed: {e}")))?;
    Ok(SessionId::from_random(bytes))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
