//! `sgw`: works on the same Redis, record format, keys and cookie signing as the gateway.
//!
//! Settings come from the same variables the gateway reads (`SPIN_VARIABLE_REDIS_ADDRESS`,
//! `SPIN_VARIABLE_SESSION_KEYS`, `SPIN_VARIABLE_KEY_PREFIX`) or from flags.

use session_gateway_core::config::{ABSOLUTE_TIMEOUT, IDLE_TIMEOUT, KEY_PREFIX, REDIS_ADDRESS, SESSION_KEYS, defaults};
use session_gateway_core::cookie_codec::{CookieCodec, SessionId, SignedCookieV1};
use session_gateway_core::expiry::Expiry;
use session_gateway_core::keys::KeyRing;
use session_gateway_core::redis_layout;
use session_gateway_core::session::{GatewayRecordDecoder, SessionDecoder, SessionRecordV1};
use std::process::ExitCode;

const USAGE: &str = "usage: sgw <command> [options]

commands:
  create --user ID [--data JSON]      write a new session (indexed under its user), print its cookie value
  show (--cookie VALUE | --id ID)     print one session as JSON
  list --user ID                      print a user's live sessions as JSON
  revoke (--cookie VALUE | --id ID)   end one session
  revoke-user --user ID               end every session of a user
  <command> --help                    this text

options (each also read from the gateway's variable in the environment):
  --redis URL        SPIN_VARIABLE_REDIS_ADDRESS     (default redis://127.0.0.1:6379)
  --keys SECRETS     SPIN_VARIABLE_SESSION_KEYS      (comma-separated; the first signs)
  --prefix PREFIX    SPIN_VARIABLE_KEY_PREFIX        (default sgw:session:)
  --idle SECONDS     SPIN_VARIABLE_IDLE_TIMEOUT      (default 1800)
  --absolute SECONDS SPIN_VARIABLE_ABSOLUTE_TIMEOUT  (default 86400)

exit codes: 0 success, 1 not found or invalid session, 2 usage or configuration error, 3 Redis error";

/// Exit codes a script can rely on.
enum Failure {
    NotFound(String),
    Usage(String),
    Redis(String),
}

/// Help for one subcommand.
fn subcommand_help(command: &str) -> Option<&'static str> {
    Some(match command {
        "create" => {
            "usage: sgw create --user ID [--data JSON] [--idle SECONDS] [--absolute SECONDS]\n\nWrites a new session for user ID (data: a JSON object, default {}), indexes it under\nthe user, and prints its signed cookie value. The TTL is the sooner of --idle and\n--absolute, as the gateway sets it at login."
        }
        "show" => {
            "usage: sgw show (--cookie VALUE | --id ID)\n\nPrints the session as JSON: user, data, timestamps, remaining TTL, and whether the\ngateway would accept it. A --cookie is verified with the signing keys first."
        }
        "list" => {
            "usage: sgw list --user ID\n\nPrints the user's live sessions (from the user's index) as a JSON array."
        }
        "revoke" => {
            "usage: sgw revoke (--cookie VALUE | --id ID)\n\nEnds one session at once and removes it from its user's index."
        }
        "revoke-user" => {
            "usage: sgw revoke-user --user ID\n\nEnds every session of the user (O(the user's sessions)) and prints how many."
        }
        _ => return None,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wants_help = args.iter().any(|a| a == "-h" || a == "--help");
    if args.is_empty() || args[0] == "help" || (wants_help && args[0].starts_with('-')) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if wants_help {
        match subcommand_help(&args[0]) {
            Some(help) => {
                println!("{help}\n\nSettings: --redis, --keys, --prefix, --idle, --absolute (see `sgw --help`).");
                return ExitCode::SUCCESS;
            }
            None => {
                eprintln!("sgw: unknown command `{}`\n\n{USAGE}", args[0]);
                return ExitCode::from(2);
            }
        }
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

    fn expiry(&self) -> Result<Expiry, Failure> {
        let seconds = |flag: &str, variable: &str, default: u64| -> Result<u64, Failure> {
            match self.setting(flag, variable) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| Failure::Usage(format!("--{flag} must be a whole number of seconds above 0"))),
            }
        };
        Ok(Expiry {
            idle_secs: seconds("idle", IDLE_TIMEOUT, defaults::IDLE_TIMEOUT_SECS)?,
            absolute_secs: seconds("absolute", ABSOLUTE_TIMEOUT, defaults::ABSOLUTE_TIMEOUT_SECS)?,
            refresh_fraction: defaults::REFRESH_FRACTION,
        })
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
        "list" => list(&options),
        "revoke" => revoke(&options),
        "revoke-user" => revoke_user(&options),
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
    let expiry = options.expiry()?;
    let codec = options.codec()?;
    let now = now();
    let record = SessionRecordV1::new(user, data, now, expiry.absolute_secs);
    let bytes = record.to_json();
    // The record must pass the gateway's own checks, or the session would never work.
    GatewayRecordDecoder
        .decode(&bytes, now)
        .map_err(|e| Failure::Usage(format!("invalid session: {e}")))?;
    let ttl = expiry.ttl_at(now, record.expires_at).unwrap_or(1);
    let id = new_id(user)?;
    let prefix = options.prefix();
    let created: i64 = redis::cmd("EVAL")
        .arg(redis_layout::LOGIN)
        .arg(2)
        .arg(redis_layout::session_key(&prefix, &id))
        .arg(redis_layout::user_index_key(&prefix, user))
        .arg(bytes)
        .arg(ttl)
        .arg(id.as_str())
        .arg(record.expires_at)
        .arg(now)
        .query(&mut options.redis()?)
        .map_err(redis_failure)?;
    if created != 1 {
        return Err(Failure::Redis("the new session id already exists".into()));
    }
    println!("{}", codec.encode(&id));
    Ok(())
}

/// The session named by `--cookie` (verified with the keys) or `--id`.
fn target(options: &Options, command: &str) -> Result<SessionId, Failure> {
    match (options.get("cookie"), options.get("id")) {
        (Some(cookie), None) => options
            .codec()?
            .decode(cookie)
            .map(|v| v.id().clone())
            .ok_or_else(|| Failure::NotFound("the cookie does not verify with these keys".into())),
        (None, Some(id)) => SessionId::parse(id).ok_or_else(|| Failure::Usage("not a session id".into())),
        _ => Err(Failure::Usage(format!(
            "{command} needs exactly one of --cookie or --id"
        ))),
    }
}

/// The record and remaining TTL (ms) of a session, if it exists.
fn load(redis: &mut redis::Connection, key: &str) -> Result<Option<(Vec<u8>, i64)>, Failure> {
    let (bytes, pttl): (Option<Vec<u8>>, i64) = redis::cmd("EVAL")
        .arg(redis_layout::LOOKUP)
        .arg(1)
        .arg(key)
        .query(redis)
        .map_err(redis_failure)?;
    Ok(bytes.map(|b| (b, pttl)))
}

fn describe(id: &SessionId, bytes: &[u8], pttl: i64) -> serde_json::Value {
    let problem = GatewayRecordDecoder.decode(bytes, now()).err().map(|e| e.to_string());
    let record: Option<SessionRecordV1> = serde_json::from_slice(bytes).ok();
    serde_json::json!({
        "id": id.as_str(),
        "user_id": record.as_ref().map(|r| r.user_id.clone()),
        "data": record.as_ref().map(|r| r.data.clone()),
        "created_at": record.as_ref().map(|r| r.created_at),
        "expires_at": record.as_ref().map(|r| r.expires_at),
        "ttl_secs": if pttl < 0 { pttl } else { pttl / 1000 },
        "valid": problem.is_none(),
        "problem": problem,
    })
}

fn show(options: &Options) -> Result<(), Failure> {
    let id = target(options, "show")?;
    let key = redis_layout::session_key(&options.prefix(), &id);
    let (bytes, pttl) = load(&mut options.redis()?, &key)?
        .ok_or_else(|| Failure::NotFound(format!("no session #{}", id.fingerprint())))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&describe(&id, &bytes, pttl)).expect("json")
    );
    Ok(())
}

fn list(options: &Options) -> Result<(), Failure> {
    let user = options
        .get("user")
        .ok_or_else(|| Failure::Usage("list needs --user".into()))?;
    let prefix = options.prefix();
    let mut redis = options.redis()?;
    let ids: Vec<String> = redis::cmd("ZRANGE")
        .arg(redis_layout::user_index_key(&prefix, user))
        .arg(0)
        .arg(-1)
        .query(&mut redis)
        .map_err(redis_failure)?;
    let mut sessions = Vec::new();
    for id in ids.iter().filter_map(|i| SessionId::parse(i)) {
        if let Some((bytes, pttl)) = load(&mut redis, &redis_layout::session_key(&prefix, &id))? {
            sessions.push(describe(&id, &bytes, pttl));
        }
    }
    println!("{}", serde_json::to_string_pretty(&sessions).expect("json"));
    Ok(())
}

fn revoke(options: &Options) -> Result<(), Failure> {
    let id = target(options, "revoke")?;
    let prefix = options.prefix();
    let key = redis_layout::session_key(&prefix, &id);
    let mut redis = options.redis()?;
    let (bytes, _) =
        load(&mut redis, &key)?.ok_or_else(|| Failure::NotFound(format!("no session #{}", id.fingerprint())))?;
    let user = serde_json::from_slice::<SessionRecordV1>(&bytes)
        .map(|r| r.user_id)
        .unwrap_or_default();
    let deleted: i64 = redis::cmd("EVAL")
        .arg(redis_layout::LOGOUT)
        .arg(2)
        .arg(&key)
        .arg(redis_layout::user_index_key(&prefix, &user))
        .arg(id.as_str())
        .query(&mut redis)
        .map_err(redis_failure)?;
    println!("revoked {deleted} session");
    Ok(())
}

fn revoke_user(options: &Options) -> Result<(), Failure> {
    let user = options
        .get("user")
        .ok_or_else(|| Failure::Usage("revoke-user needs --user".into()))?;
    let prefix = options.prefix();
    let revoked: i64 = redis::cmd("EVAL")
        .arg(redis_layout::REVOKE_USER)
        .arg(1)
        .arg(redis_layout::user_index_key(&prefix, user))
        .arg(redis_layout::user_sessions_prefix(&prefix, user))
        .query(&mut options.redis()?)
        .map_err(redis_failure)?;
    println!("revoked {revoked} sessions");
    Ok(())
}

fn redis_failure(error: redis::RedisError) -> Failure {
    Failure::Redis(error.to_string())
}

fn new_id(user_id: &str) -> Result<SessionId, Failure> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Failure::Usage(format!("the operating system's CSPRNG failed: {e}")))?;
    Ok(SessionId::for_user(bytes, user_id))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
