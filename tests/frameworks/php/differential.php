<?php
// A one-off differential check of crates/core/src/php_serialize.rs against PHP itself:
// random values, sessions and mutated or rewired encodings, each with PHP's own reading.
// Output, one case a line: <kind> TAB <base64 of the bytes> TAB <PHP's reading> TAB <PHP's
// reading with allowed_classes => false, where no class code runs (value and php_serialize
// only, else "-")>. kind: value (unserialize), php or php_serialize (session_decode under
// that handler). A reading is JSON in the parser's documented form, or "!" when PHP refuses,
// "~" when PHP builds a cycle, "?" when it makes $_SESSION something else than an array.
//
//   php -d session.serialize_handler=php differential.php SEED COUNT > php.tsv
//   php -d session.serialize_handler=php_serialize differential.php SEED COUNT > php_serialize.tsv
//   PHP_DIFFERENTIAL=php.tsv,php_serialize.tsv cargo test --test php agrees_with_php -- --nocapture
//
// The classes below stand for an app's: their objects must stay opaque to the parser.

error_reporting(E_ALL & ~E_DEPRECATED & ~E_WARNING & ~E_NOTICE);
ini_set('session.use_cookies', '0');
ini_set('session.cache_limiter', '');
ini_set('session.save_path', sys_get_temp_dir());

enum Suit: string { case Hearts = 'H'; case Spades = 'S'; }
enum Pure { case One; case Two; }
class Point { public $x; protected $y; private $z; public $rest;
    function __construct($x = 0) { $this->x = $x; $this->y = [$x]; $this->z = is_scalar($x) ? "$x" : null; } }
// The pre-7.4 custom format (C:), whose payload nests its own unserialize() call.
class Legacy implements Serializable { public $d;
    function __construct($d = null) { $this->d = $d; }
    function serialize() { return serialize($this->d); }
    function unserialize($s) { $this->d = unserialize($s); } }

[$seed, $count] = [(int)($argv[1] ?? 1), (int)($argv[2] ?? 1000)];
mt_srand($seed);
$handler = ini_get('session.serialize_handler');

function pick(array $a) { return $a[mt_rand(0, count($a) - 1)]; }

function scalar() {
    switch (mt_rand(0, 11)) {
        case 0: return null;
        case 1: return (bool)mt_rand(0, 1);
        case 2: return mt_rand(-1000, 1000);
        case 3: return pick([PHP_INT_MAX, PHP_INT_MIN, 0, -1, 2 ** 53 + 1]);
        case 4: return mt_rand() / mt_getrandmax() * pick([1, 1e-300, 1e300, -1e10, 1e25]);
        case 5: return pick([INF, -INF, NAN, -0.0, 0.1, 1.0, 5e-324, 1.7976931348623157e308, 1e15, 1e16]);
        case 6: return pick(['', 'x', 'Zoë', '日本', "a\"b;c|d}e", 'a:1:{', "\u{1F600}", '0', '-5']);
        case 7: return random_bytes(mt_rand(1, 6));
        case 8: return str_repeat(pick(['ab', "\xc3\xa9"]), mt_rand(0, 20));
        case 9: return pick([Suit::Hearts, Suit::Spades, Pure::One, Pure::Two]);
        case 10: return pick([new Point(mt_rand(0, 9)), new DateTime('@' . mt_rand(0, 2e9)), new stdClass, new Legacy(mt_rand(0, 9))]);
        default: return (string)mt_rand(-99, 99);
    }
}

function key_of() {
    return pick([mt_rand(0, 4), mt_rand(-3, 50), 'k' . mt_rand(0, 9), (string)mt_rand(0, 9), '05', '-0', '+1', '1.5', '', ' 1', 'ü', PHP_INT_MAX, PHP_INT_MIN, (string)PHP_INT_MAX, '9223372036854775808']);
}

// Containers, with objects shared by identity (r:).
function value($depth, &$pool) {
    if ($pool && mt_rand(0, 6) == 0) { return pick($pool); }
    if ($depth > 5 || mt_rand(0, 9) < 4) {
        $v = scalar();
    } elseif (mt_rand(0, 3) == 0) {
        $n = mt_rand(0, 4); $v = [];
        for ($i = 0; $i < $n; $i++) { $v[] = value($depth + 1, $pool); }
    } else {
        $n = mt_rand(0, 4); $v = [];
        for ($i = 0; $i < $n; $i++) { $v[key_of()] = value($depth + 1, $pool); }
    }
    if (mt_rand(0, 5) == 0) {
        $v = new Point($v); $v->rest = value($depth + 1, $pool);
    } elseif (mt_rand(0, 7) == 0) {
        $v = new Legacy($v);
    }
    if (is_object($v)) { $pool[] = $v; }
    return $v;
}

// PHP references (R:): an array element made a reference to another one, anywhere in the
// tree, an ancestor included (a cycle).
function slots(array &$a, array &$out, $depth = 0) {
    foreach (array_keys($a) as $k) {
        $out[] = [&$a, $k];
        if (is_array($a[$k]) && $depth < 8) { slots($a[$k], $out, $depth + 1); }
    }
}

function add_references(array &$tree) {
    for ($n = mt_rand(0, 2); $n > 0; $n--) {
        $all = [];
        slots($tree, $all);
        if (count($all) < 2) { return; }
        [$from, $to] = [pick($all), pick($all)];
        if (mt_rand(0, 3) == 0 || !is_array($from[0][$from[1]])) { $from[0][$from[1]] = &$to[0][$to[1]]; }
    }
}

// The parser's documented form of what PHP read.
function expected($v, $depth = 0) {
    if ($depth > 100) { throw new LengthException('a cycle'); }
    if (is_float($v)) { return is_finite($v) ? $v : null; }
    if (is_string($v)) { return preg_match('//u', $v) ? $v : null; }
    if ($v instanceof UnitEnum) { return ['__PHP_Incomplete_Class_Name' => get_class($v), 'case' => $v->name]; }
    if ($v instanceof __PHP_Incomplete_Class) { return ['__PHP_Incomplete_Class_Name' => ((array)$v)['__PHP_Incomplete_Class_Name']]; }
    if (is_object($v)) { return ['__PHP_Incomplete_Class_Name' => get_class($v)]; }
    if (is_array($v)) { $out = []; foreach ($v as $k => $x) { $out[$k] = expected($x, $depth + 1); } return $out; }
    return $v;
}

function encode($v, $top) {
    try { $v = expected($v); } catch (LengthException) { return '~'; }   // PHP built a cycle
    // Class names that are not UTF-8 are made so, as the parser does.
    $flags = JSON_PRESERVE_ZERO_FRACTION | JSON_INVALID_UTF8_SUBSTITUTE;
    if (!$top) { return json_encode($v, $flags); }
    // $_SESSION as an object, written out: (object) would hide keys starting with NUL.
    $members = [];
    foreach ($v as $k => $x) { $members[] = json_encode((string)$k, $flags) . ':' . json_encode($x, $flags); }
    return '{' . implode(',', $members) . '}';
}

function read_value($s, $classes = true) {
    try { $v = @unserialize($s, ['max_depth' => 64, 'allowed_classes' => $classes]); } catch (Throwable) { return '!'; }
    if ($v === false && $s !== 'b:0;') { return '!'; }
    return encode($v, false);
}

function read_session($s) {
    if (session_status() !== PHP_SESSION_ACTIVE) { @session_start(); }
    $_SESSION = [];
    try { $ok = @session_decode($s); } catch (Throwable) { $ok = false; }
    if (!$ok) { @session_abort(); return '!'; }
    return is_array($_SESSION) ? encode($_SESSION, true) : '?';
}

function mutate($s) {
    $n = strlen($s);
    switch (mt_rand(0, 5)) {
        case 0: return $n ? substr_replace($s, chr(mt_rand(0, 255)), mt_rand(0, $n - 1), 1) : $s;
        case 1: return substr($s, 0, mt_rand(0, $n));
        case 2: return substr_replace($s, pick([';', '}', '{', ':', '"', '|', 'R:1;', 'r:2;', 'N;', 'i:1;', 'a:1:{']), mt_rand(0, $n), 0);
        case 3: return $n ? substr_replace($s, '', mt_rand(0, $n - 1), 1) : $s;
        case 4: // another number anywhere: lengths, counts, slots
            return preg_replace_callback('/\d+/', fn($m) => mt_rand(0, 4) ? $m[0] : (string)max(0, $m[0] + mt_rand(-2, 2)), $s);
        default: // references rewired to other slots, and values replaced by references
            $s = preg_replace_callback('/([rR]):\d+;/', fn($m) => $m[1] . ':' . mt_rand(0, 40) . ';', $s);
            return preg_replace_callback('/(?<=[;}{])(i:-?\d+;|b:[01];|N;)/', fn($m) => mt_rand(0, 3) ? $m[0] : pick(['R:', 'r:']) . mt_rand(1, 30) . ';', $s);
    }
}

$out = fopen('php://stdout', 'w');
for ($case = 0; $case < $count; $case++) {
    $pool = [];
    $v = value(0, $pool);
    if (is_array($v)) { add_references($v); }
    $vars = [];
    for ($i = mt_rand(0, 5); $i > 0; $i--) { $vars[pick(['user_id', 'role', 'cart', 'a', 'b!', 'ß', '7', ''])] = value(1, $pool); }
    add_references($vars);
    $serialized = serialize($v);
    if (session_status() !== PHP_SESSION_ACTIVE) { @session_start(); }
    $_SESSION = $vars;
    $session = session_encode();
    $inputs = [['value', $serialized], [$handler, $session === false ? '' : $session]];
    for ($m = 0; $m < 4; $m++) { $inputs[] = ['value', mutate($serialized)]; $inputs[] = [$handler, mutate($session ?: '')]; }
    foreach ($inputs as [$kind, $bytes]) {
        $reading = $kind === 'value' ? read_value($bytes) : read_session($bytes);
        $classless = $kind === 'php' ? '-' : read_value($bytes, false);
        fwrite($out, "$kind\t" . base64_encode($bytes) . "\t$reading\t$classless\n");
    }
}
