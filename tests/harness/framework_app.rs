//! A real framework app (tests/frameworks/<name>) run as its users run it, keeping its
//! sessions in a real Redis: the tests log in through it, then send its cookie through the
//! gateway, which forwards to the same app.

use bytes::Bytes;
use http_body_util::Full;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

pub struct FrameworkApp {
    pub addr: SocketAddr,
    child: Child,
}

impl FrameworkApp {
    /// `node tests/frameworks/express/app.js`, with `secrets` (comma-separated, the first
    /// signs) and an optional cookie max age; returns once it listens.
    pub fn express(redis_url: &str, secrets: &str, max_age_ms: Option<u64>) -> Self {
        let dir = crate::workspace_root().join("tests/frameworks/express");
        assert!(
            dir.join("node_modules").is_dir(),
            "the Express app's packages are missing: run scripts/setup (npm ci in {})",
            dir.display()
        );
        let mut command = Command::new("node");
        command.arg("app.js").env("SECRETS", secrets);
        if let Some(ms) = max_age_ms {
            command.env("MAX_AGE_MS", ms.to_string());
        }
        Self::spawn(command, &dir, redis_url)
    }

    /// `tests/frameworks/flask/app.py` in its virtualenv: Flask-Session's Redis backend with
    /// `SESSION_USE_SIGNER` as `signed`, `format` (`msgpack` or `json`), and a session
    /// lifetime in seconds.
    pub fn flask(redis_url: &str, secret: &str, signed: bool, format: &str, lifetime_secs: u64) -> Self {
        let (dir, mut command) = python_app("flask");
        command
            .env("SECRET_KEY", secret)
            .env("SESSION_USE_SIGNER", if signed { "1" } else { "0" })
            .env("SESSION_SERIALIZATION_FORMAT", format)
            .env("LIFETIME_SECONDS", lifetime_secs.to_string());
        Self::spawn(command, &dir, redis_url)
    }

    /// `tests/frameworks/django/app.py` in its virtualenv: cache-backed sessions on Django's
    /// Redis cache, `django.contrib.auth` (its SQLite database in a temporary file), and a
    /// session age in seconds.
    pub fn django(redis_url: &str, session_age_secs: u64) -> Self {
        let (dir, mut command) = python_app("django");
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("random");
        let db = std::env::temp_dir().join(format!("sgw-django-{}.sqlite3", u64::from_le_bytes(bytes)));
        command
            .env("SECRET_KEY", "django test secret key")
            .env("DB", db)
            .env("SESSION_COOKIE_AGE", session_age_secs.to_string());
        Self::spawn(command, &dir, redis_url)
    }

    /// `tests/frameworks/laravel/app.php` under PHP's built-in server: Laravel 8's own
    /// components (Debian's), sessions on the Redis session driver, cookies encrypted with
    /// `app_key`, a session lifetime in minutes, and the session cookie's name.
    pub fn laravel(redis_url: &str, app_key: &str, lifetime_minutes: u64, cookie_name: &str) -> Self {
        let dir = crate::workspace_root().join("tests/frameworks/laravel");
        let mut command = php_server(&dir);
        command
            .env("APP_KEY", app_key)
            .env("SESSION_COOKIE", cookie_name)
            .env("SESSION_LIFETIME", lifetime_minutes.to_string());
        Self::spawn_polled(command, &dir, redis_url)
    }

    /// `tests/frameworks/php/app.php` under PHP's built-in server: native sessions on
    /// phpredis's save handler, with ini settings as PHP apps take them (`redis_port` for
    /// `session.save_path`, `session.serialize_handler`, `session.gc_maxlifetime`, and any
    /// `extra` such as `session.sid_length`; Debian's php.ini is php.ini-production's, whose
    /// ids are 26 characters of 5 bits).
    pub fn php(redis_url: &str, redis_port: u16, handler: &str, lifetime_secs: u64, extra: &[(&str, &str)]) -> Self {
        let dir = crate::workspace_root().join("tests/frameworks/php");
        let mut command = php_server(&dir);
        command
            .arg("-d")
            .arg("session.save_handler=redis")
            .arg("-d")
            .arg(format!("session.save_path=tcp://127.0.0.1:{redis_port}"))
            .arg("-d")
            .arg(format!("session.serialize_handler={handler}"))
            .arg("-d")
            .arg(format!("session.gc_maxlifetime={lifetime_secs}"));
        for (name, value) in extra {
            command.arg("-d").arg(format!("{name}={value}"));
        }
        Self::spawn_polled(command, &dir, redis_url)
    }

    /// An app that says nothing when it is ready (PHP's built-in server): started, then
    /// asked until its port answers.
    fn spawn_polled(mut command: Command, dir: &std::path::Path, redis_url: &str) -> Self {
        let port = crate::free_port();
        command
            .current_dir(dir)
            .env("PORT", port.to_string())
            .env("REDIS_URL", redis_url)
            .arg("-S")
            .arg(format!("127.0.0.1:{port}"))
            .arg("app.php")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().expect("PHP starts (scripts/setup installs php-cli)");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(std::time::Instant::now() < deadline, "the PHP app did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self { addr, child }
    }

    fn spawn(mut command: Command, dir: &std::path::Path, redis_url: &str) -> Self {
        let port = crate::free_port();
        command
            .current_dir(dir)
            .env("PORT", port.to_string())
            .env("REDIS_URL", redis_url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command
            .spawn()
            .expect("the framework app starts (scripts/setup installs it)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the app's first line");
        assert_eq!(line.trim(), "listening", "the framework app did not start");
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A POST straight to the app (not through the gateway), with an optional cookie.
    pub async fn post(&self, path: &str, cookie: Option<&str>) -> crate::Reply {
        let mut builder = http::Request::post(path);
        if let Some(cookie) = cookie {
            builder = builder.header("cookie", cookie);
        }
        crate::send(self.addr, builder.body(Full::new(Bytes::new())).expect("request"))
            .await
            .expect("the app answers")
    }
}

/// `php`, with the extensions the apps need checked first so a missing one says so.
fn php_server(dir: &std::path::Path) -> Command {
    let modules = Command::new("php")
        .arg("-m")
        .output()
        .expect("php runs (scripts/setup installs php-cli)");
    assert!(
        String::from_utf8_lossy(&modules.stdout).lines().any(|m| m == "redis"),
        "PHP's redis extension is missing: run scripts/setup (php-redis), for {}",
        dir.display()
    );
    Command::new("php")
}

/// `tests/frameworks/<name>`, and its `app.py` to run in the app's virtualenv.
fn python_app(name: &str) -> (std::path::PathBuf, Command) {
    let dir = crate::workspace_root().join("tests/frameworks").join(name);
    let python = dir.join(".venv/bin/python");
    assert!(
        python.exists(),
        "the {name} app's virtualenv is missing: run scripts/setup (pip install -r {}/requirements.txt)",
        dir.display()
    );
    let mut command = Command::new(python);
    command.arg("app.py");
    (dir, command)
}

impl Drop for FrameworkApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
