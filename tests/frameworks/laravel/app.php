<?php
/**
 * A minimal Laravel app keeping its sessions in Redis the way Laravel apps do, built from
 * Debian's Laravel 8 components (no Composer, no skeleton): the session manager's `redis`
 * driver (CacheBasedSessionHandler over the cache's RedisStore over phpredis), cookies
 * encrypted by the EncryptCookies middleware (with its CookieValuePrefix), and the user put
 * in the session by the real Illuminate\Auth\SessionGuard. The gateway's tests log in here
 * directly, then send the cookie through the gateway, which forwards to this same app.
 *
 * Run: php -S 127.0.0.1:$PORT app.php (PHP_CLI_SERVER_WORKERS=4 to serve requests side by side)
 * Packages (Debian 12, Laravel 8.83.26+dfsg-2, PHP 8.2, phpredis 5.3.7):
 *   apt-get install -y php-cli php-redis php-illuminate-auth php-illuminate-cache
 *     php-illuminate-config php-illuminate-container php-illuminate-cookie
 *     php-illuminate-encryption php-illuminate-http php-illuminate-redis
 *     php-illuminate-session php-illuminate-support
 * Environment: REDIS_URL (or REDIS_HOST, REDIS_PORT), APP_KEY (`base64:` + 32 bytes, or 32
 * raw bytes), SESSION_LIFETIME (minutes, default 120), and optionally APP_NAME, SESSION_COOKIE,
 * REDIS_PREFIX, CACHE_PREFIX, with the defaults of Laravel 8's skeleton (laravel/laravel 8.x).
 * Laravel 8 has no APP_PREVIOUS_KEYS (its Encrypter takes one key; previous keys came in 11).
 *
 * Endpoints: POST /login?user=ID, POST /visit, POST /logout, GET /whoami (the request's
 * headers as a JSON object, names lowercased).
 */

foreach (['Container', 'Config', 'Support', 'Redis', 'Cache', 'Session', 'Encryption', 'Cookie', 'Auth', 'Http'] as $component) {
    require_once "Illuminate/$component/autoload.php";
}

use Illuminate\Auth\GenericUser;
use Illuminate\Auth\SessionGuard;
use Illuminate\Cache\CacheManager;
use Illuminate\Config\Repository;
use Illuminate\Container\Container;
use Illuminate\Contracts\Auth\Authenticatable;
use Illuminate\Contracts\Auth\UserProvider;
use Illuminate\Cookie\Middleware\EncryptCookies;
use Illuminate\Encryption\Encrypter;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Illuminate\Http\Response;
use Illuminate\Redis\RedisManager;
use Illuminate\Session\Middleware\StartSession;
use Illuminate\Session\SessionManager;
use Illuminate\Support\DateFactory;
use Illuminate\Support\Facades\Facade;
use Illuminate\Support\Str;

function env_or(string $name, $default)
{
    $value = getenv($name);
    return $value === false || $value === '' ? $default : $value;
}

$appName = env_or('APP_NAME', 'laravel');

// The values of laravel/laravel 8.x's config/{app,session,cache,database}.php.
$config = new Repository([
    'app' => [
        'key' => getenv('APP_KEY'),
        'cipher' => 'AES-256-CBC',
    ],
    'session' => [
        'driver' => 'redis',
        'lifetime' => (int) env_or('SESSION_LIFETIME', 120),
        'expire_on_close' => false,
        'encrypt' => false,
        'connection' => null,
        'store' => null,
        'lottery' => [2, 100],
        'cookie' => env_or('SESSION_COOKIE', Str::slug($appName, '_').'_session'),
        'path' => '/',
        'domain' => null,
        'secure' => null,
        'http_only' => true,
        'same_site' => 'lax',
    ],
    'cache' => [
        'default' => 'redis',
        'stores' => [
            'redis' => ['driver' => 'redis', 'connection' => 'cache', 'lock_connection' => 'default'],
        ],
        'prefix' => env_or('CACHE_PREFIX', Str::slug($appName, '_').'_cache'),
    ],
    'database' => [
        'redis' => [
            'client' => 'phpredis',
            'options' => [
                'cluster' => 'redis',
                'prefix' => env_or('REDIS_PREFIX', Str::slug($appName, '_').'_database_'),
            ],
            'default' => [
                'url' => getenv('REDIS_URL') ?: null,
                'host' => env_or('REDIS_HOST', '127.0.0.1'),
                'password' => null,
                'port' => env_or('REDIS_PORT', '6379'),
                'database' => '0',
            ],
            'cache' => [
                'url' => getenv('REDIS_URL') ?: null,
                'host' => env_or('REDIS_HOST', '127.0.0.1'),
                'password' => null,
                'port' => env_or('REDIS_PORT', '6379'),
                'database' => '1',
            ],
        ],
    ],
]);

// The bindings Laravel's service providers make (Redis, Cache, Session, Encryption).
$app = new Container();
Container::setInstance($app);
Facade::setFacadeApplication($app);
$app->instance('config', $config);
$app->singleton('date', fn () => new DateFactory());
$app->singleton('redis', function ($app) {
    $redis = $app['config']['database.redis'];
    $client = $redis['client'];
    unset($redis['client']);
    return new RedisManager($app, $client, $redis);
});
$app->singleton('cache', fn ($app) => new CacheManager($app));
$app->singleton('session', fn ($app) => new SessionManager($app));
$app->singleton('session.store', fn ($app) => $app['session']->driver());

// EncryptionServiceProvider::parseKey.
$key = (string) $config['app.key'];
if (Str::startsWith($key, 'base64:')) {
    $key = base64_decode(Str::after($key, 'base64:'));
}
$encrypter = new Encrypter($key, $config['app.cipher']);

/** Users exist as soon as they are named: the app has no database. */
class NamedUsers implements UserProvider
{
    public function retrieveById($identifier)
    {
        return new GenericUser(['id' => $identifier]);
    }

    public function retrieveByToken($identifier, $token)
    {
        return null;
    }

    public function updateRememberToken(Authenticatable $user, $token)
    {
    }

    public function retrieveByCredentials(array $credentials)
    {
        return null;
    }

    public function validateCredentials(Authenticatable $user, array $credentials)
    {
        return false;
    }
}

function route(Request $request, Container $app)
{
    $session = $request->session();
    // What AuthManager::createSessionDriver builds for the `web` guard (no remember-me cookie).
    $guard = new SessionGuard('web', new NamedUsers(), $session);
    $guard->setRequest($request);

    switch ($request->method().' '.$request->getPathInfo()) {
        case 'POST /login':
            $user = (string) $request->query('user', '');
            // Eloquent's keys are integers; UUID keys are strings: both kinds are stored.
            $guard->login(new GenericUser(['id' => ctype_digit($user) ? (int) $user : $user]));
            $session->put('role', 'member');
            return new Response('logged in');
        case 'POST /visit':
            $session->put('visits', $session->get('visits', 0) + 1);
            return new Response('visited');
        case 'POST /logout':
            // What Laravel's documentation has a logout route do.
            $guard->logout();
            $session->invalidate();
            $session->regenerateToken();
            return new Response('logged out');
        case 'GET /whoami':
            $headers = [];
            foreach ($request->headers->all() as $name => $values) {
                $headers[strtolower($name)] = implode(', ', $values);
            }
            return new JsonResponse($headers);
        default:
            return new Response('not found', 404);
    }
}

// The `web` middleware group's session part, in Laravel's order.
$request = Request::capture();
$startSession = new StartSession($app['session'], fn () => $app['cache']);
$response = (new EncryptCookies($encrypter))->handle(
    $request,
    fn ($request) => $startSession->handle($request, fn ($request) => route($request, $app))
);
$response->send();
