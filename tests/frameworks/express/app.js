// A plain Express app keeping its sessions in Redis the way its users do: express-session
// with connect-redis, a login that regenerates the session and stores the user where
// Passport does (`passport.user`), and a logout that destroys it. The gateway's tests log in
// here directly, then send the cookie through the gateway, which forwards to this same app.
//
// Environment: PORT, REDIS_URL, SECRETS (comma-separated, the first signs), MAX_AGE_MS.
const express = require("express");
const session = require("express-session");
const RedisStore = require("connect-redis").default;
const { createClient } = require("redis");

async function main() {
  const client = createClient({ url: process.env.REDIS_URL });
  await client.connect();
  const app = express();
  const maxAge = process.env.MAX_AGE_MS ? Number(process.env.MAX_AGE_MS) : undefined;
  app.use(
    session({
      store: new RedisStore({ client }),
      secret: process.env.SECRETS.split(","),
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge },
    })
  );
  app.post("/login", (req, res, next) => {
    // What passport.login does: a fresh session id, then the user.
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.passport = { user: req.query.user };
      req.session.role = "member";
      req.session.save((err) => (err ? next(err) : res.send("logged in")));
    });
  });
  app.post("/visit", (req, res) => {
    // An anonymous session: saved, but nobody logged in.
    req.session.visits = (req.session.visits || 0) + 1;
    res.send("visited");
  });
  app.post("/logout", (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.send("logged out")));
  });
  // What the gateway forwards: the headers as they reached the app.
  app.get("/whoami", (req, res) => res.json(req.headers));
  const server = app.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"));
  process.on("SIGTERM", () => server.close(() => client.quit().then(() => process.exit(0))));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
