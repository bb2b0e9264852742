<?php
// A plain PHP app keeping its sessions in Redis the way its users do: native sessions with
// phpredis's save handler. The gateway's tests log in here directly, then send the cookie
// through the gateway, which forwards to this same app.
//
// Configured as PHP apps are, with ini settings (no environment), as a router script of
// PHP's built-in server:
//
//   php -d session.save_handler=redis -d session.save_path="tcp://127.0.0.1:$REDIS_PORT" \
//       -d session.serialize_handler=$HANDLER -d session.gc_maxlifetime=$LIFETIME \
//       -S 127.0.0.1:$PORT tests/frameworks/php/app.php
//
// HANDLER: php (PHP's default) or php_serialize. session.sid_length and
// session.sid_bits_per_character can be given the same way (php.ini-production: 26 and 5).

function reply(string $body, int $status = 200): void
{
    http_response_code($status);
    header('Content-Type: text/plain');
    echo $body;
}

$route = $_SERVER['REQUEST_METHOD'] . ' ' . parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
switch ($route) {
    case 'POST /login':
        session_start();
        // A new id at login, as apps should (and Laravel, Symfony do).
        session_regenerate_id(true);
        $_SESSION['user_id'] = $_GET['user'];
        $_SESSION['role'] = 'member';
        // An object in the session, which the gateway reads as opaque.
        $_SESSION['logged_in_at'] = new DateTimeImmutable('now', new DateTimeZone('UTC'));
        reply('logged in');
        break;
    case 'POST /visit':
        session_start();
        $_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;
        reply('visited');
        break;
    case 'POST /logout':
        session_start();
        $_SESSION = [];
        session_destroy();
        reply('logged out');
        break;
    case 'GET /whoami':
        header('Content-Type: application/json');
        echo json_encode(array_change_key_case(getallheaders(), CASE_LOWER), JSON_FORCE_OBJECT);
        break;
    default:
        reply('not found', 404);
}
