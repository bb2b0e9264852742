// Writes the values a Spring Session hash holds with the default serializer, as Spring writes
// them: JdkSerializationRedisSerializer -> SerializingConverter -> DefaultSerializer, which is
// `new ObjectOutputStream(out); writeObject(value); flush()`, one stream per hash value.
// Prints `name hex` lines, and the cookie Spring sets for one id; tests/unit/spring.rs holds
// the output, made with OpenJDK 17.0.15. No Spring jar is needed: these are JDK classes.
//
// Run from this folder:
//   javac -d /tmp/spring-fixtures Fixtures.java && java -cp /tmp/spring-fixtures Fixtures
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;

public class Fixtures {

    static String jdk(Object value) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ObjectOutputStream out = new ObjectOutputStream(bytes);
        out.writeObject(value);
        out.flush();
        StringBuilder hex = new StringBuilder();
        for (byte b : bytes.toByteArray()) {
            hex.append(String.format("%02x", b));
        }
        return hex.toString();
    }

    public static void main(String[] args) throws IOException {
        Map<String, Object> values = new LinkedHashMap<>();
        // RedisSessionRepository.RedisSession: creationTime and lastAccessedTime are
        // Instant.toEpochMilli() (Long), maxInactiveInterval is (int) getSeconds() (Integer).
        values.put("creation_time", 1764374400000L);
        values.put("last_accessed_time", 1764376200000L);
        values.put("max_inactive_interval", 1800);
        values.put("never_expires", -1);
        values.put("long_min", Long.MIN_VALUE);
        values.put("int_min", Integer.MIN_VALUE);
        // Attributes set with HttpSession.setAttribute.
        values.put("string_alice", "alice");
        values.put("string_empty", "");
        // NUL, a two-byte character, a three-byte one and one outside the BMP (a surrogate
        // pair): modified UTF-8 writes NUL as c0 80 and each surrogate as three bytes.
        values.put("string_mixed", "a\u0000\u00e9\u20ac\ud83d\ude00");
        HashMap<String, Object> roles = new HashMap<>();
        roles.put("role", "admin");
        values.put("hashmap", roles);
        values.put("boolean_true", Boolean.TRUE);
        for (Map.Entry<String, Object> entry : values.entrySet()) {
            System.out.println(entry.getKey() + " " + jdk(entry.getValue()));
        }
        // DefaultCookieSerializer.base64Encode of an id from UuidSessionIdGenerator (the id
        // in RedisIndexedSessionRepository's Javadoc, parsed and printed as randomUUID does).
        String id = UUID.fromString("33fdd1b6-b496-4b33-9f7d-df96679d32fe").toString();
        System.out.println("cookie " + new String(Base64.getEncoder().encode(id.getBytes())));
    }
}
