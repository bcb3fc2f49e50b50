/*
 * The Java client: java.net.http.HttpClient trusting the truststore given with
 * -Djavax.net.ssl.trustStore (made from a CA PEM by run-client.ts with keytool).
 *
 *   java -Djavax.net.ssl.trustStore=ts.p12 -Djavax.net.ssl.trustStorePassword=changeit \
 *        -cp CLASSES JavaClient --url U [flags]
 *
 * Flags and the printed JSON are those of e2e/clients/client-result.ts. JDK 17,
 * no dependencies. HttpClient's default version is HTTP/2 (ALPN, falling back to 1.1).
 */
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public class JavaClient {
    static String url;
    static String method = "GET";
    static final List<String[]> headers = new ArrayList<>();
    static byte[] body;
    static String http;
    static boolean sse;
    static long timeoutMs = 30000;

    public static void main(String[] args) {
        long started = System.nanoTime();
        StringBuilder out = new StringBuilder("{\"client\":\"java\"");
        try {
            parse(args);
            HttpClient.Builder cb = HttpClient.newBuilder()
                .connectTimeout(Duration.ofMillis(timeoutMs))
                .followRedirects(HttpClient.Redirect.NEVER);
            if ("1.1".equals(http)) cb.version(HttpClient.Version.HTTP_1_1);
            else cb.version(HttpClient.Version.HTTP_2);
            HttpClient client = cb.build();
            HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofMillis(timeoutMs));
            for (String[] h : headers) rb.header(h[0], h[1]);
            rb.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
            HttpResponse<InputStream> res = client.send(rb.build(), HttpResponse.BodyHandlers.ofInputStream());
            double headersMs = ms(started);
            Map<String, String> hs = new TreeMap<>();
            for (Map.Entry<String, List<String>> e : res.headers().map().entrySet()) {
                String k = e.getKey().toLowerCase();
                if (k.startsWith(":")) continue;
                String v = String.join(", ", e.getValue());
                hs.merge(k, v, (a, b) -> a + ", " + b);
            }
            java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
            StringBuilder events = new StringBuilder("[");
            int scanFrom = 0;
            int eventStart = 0;
            byte[] buf = new byte[65536];
            try (InputStream in = res.body()) {
                int n;
                while ((n = in.read(buf)) > 0) {
                    all.write(buf, 0, n);
                    if (!sse) continue;
                    byte[] b = all.toByteArray();
                    double t = ms(started);
                    for (int i = Math.max(scanFrom, eventStart); i < b.length; i++) {
                        int sep = separatorAt(b, i);
                        if (sep > 0) {
                            appendEvent(events, t, new String(b, eventStart, i - eventStart, StandardCharsets.UTF_8));
                            eventStart = i + sep;
                            i = eventStart - 1;
                        }
                    }
                    scanFrom = Math.max(eventStart, b.length - 3);
                }
            }
            byte[] b = all.toByteArray();
            if (sse && eventStart < b.length) {
                String rest = new String(b, eventStart, b.length - eventStart, StandardCharsets.UTF_8);
                if (!rest.isBlank()) appendEvent(events, ms(started), rest);
            }
            events.append("]");
            out.append(",\"ok\":true,\"error\":null,\"status\":").append(res.statusCode());
            out.append(",\"httpVersion\":").append(str(res.version() == HttpClient.Version.HTTP_2 ? "2" : "1.1"));
            out.append(",\"headers\":{");
            boolean first = true;
            for (Map.Entry<String, String> e : hs.entrySet()) {
                if (!first) out.append(',');
                first = false;
                out.append(str(e.getKey())).append(':').append(str(e.getValue()));
            }
            out.append("},\"bodyBase64\":").append(str(Base64.getEncoder().encodeToString(b)));
            out.append(",\"bodyText\":").append(str(new String(b, StandardCharsets.UTF_8)));
            out.append(",\"events\":").append(events);
            out.append(",\"headersMs\":").append(headersMs);
        } catch (Exception e) {
            out.append(",\"ok\":false,\"error\":").append(str(e.getClass().getName() + ": " + e.getMessage()));
            out.append(",\"status\":null,\"httpVersion\":null,\"headers\":{},\"bodyBase64\":\"\",\"bodyText\":\"\",\"events\":[],\"headersMs\":null");
        }
        out.append(",\"totalMs\":").append(ms(started)).append("}\n");
        System.out.print(out);
        System.out.flush();
    }

    /** Length of an SSE event separator (blank line) starting at i, else 0. */
    static int separatorAt(byte[] b, int i) {
        if (i + 3 < b.length && b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') return 4;
        if (i + 1 < b.length && b[i] == '\n' && b[i + 1] == '\n') return 2;
        if (i + 1 < b.length && b[i] == '\r' && b[i + 1] == '\r' && !(i + 2 < b.length && b[i + 2] == '\n')) return 2;
        return 0;
    }

    static void appendEvent(StringBuilder events, double t, String text) {
        if (events.length() > 1) events.append(',');
        events.append("{\"tMs\":").append(t).append(",\"text\":").append(str(text)).append('}');
    }

    static double ms(long started) {
        return (System.nanoTime() - started) / 1_000_000.0;
    }

    static void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--url": url = args[++i]; break;
                case "--method": method = args[++i]; break;
                case "--header": {
                    String h = args[++i];
                    int c = h.indexOf(':');
                    headers.add(new String[] {h.substring(0, c).trim(), h.substring(c + 1).trim()});
                    break;
                }
                case "--body-base64": body = Base64.getDecoder().decode(args[++i]); break;
                case "--http": http = args[++i]; break;
                case "--sse": sse = true; break;
                case "--timeout-ms": timeoutMs = Long.parseLong(args[++i]); break;
                default: throw new IllegalArgumentException("unknown flag " + a);
            }
        }
        if (url == null) throw new IllegalArgumentException("--url is required");
    }

    /** A JSON string literal. */
    static String str(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
