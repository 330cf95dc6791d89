// DdWork: the program test_ddtrace_java.sh runs under Datadog's Java agent
// (dd-java-agent), on the work of tests/fixtures/java/JfrWork.java
// (compiled with it). For the given seconds: one thread calls a JDK
// HttpServer on loopback with HttpURLConnection (the agent traces the
// client call), and the handler runs traced(), which burns CPU and
// allocates; the test has the agent trace that method
// (dd.trace.methods=DdWork[traced]), so its samples carry span ids. Two
// threads contend for JfrWork's monitor and allocate. Then it
// idles LINGER seconds so the last upload period ends with the JVM alive.
//   java -javaagent:dd-java-agent.jar -cp . DdWork SECONDS LINGER
import com.sun.net.httpserver.HttpServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URL;

public class DdWork {
    static void traced() {
        JfrWork.sink += JfrWork.burnCpu(20_000_000);
        JfrWork.allocate();
    }

    static HttpServer serve() throws Exception {
        HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 8);
        s.createContext("/work", ex -> {
            traced();
            byte[] body = "ok\n".getBytes();
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(body);
            }
        });
        s.start();
        return s;
    }

    static void call(int port) throws Exception {
        URL u = new URL("http://127.0.0.1:" + port + "/work");
        HttpURLConnection c = (HttpURLConnection) u.openConnection();
        c.setConnectTimeout(5000);
        c.setReadTimeout(5000);
        try (InputStream in = c.getInputStream()) {
            in.readAllBytes();
        }
        c.disconnect();
    }

    public static void main(String[] args) throws Exception {
        long seconds = Long.parseLong(args[0]);
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        HttpServer server = serve();
        int port = server.getAddress().getPort();
        Thread[] ts = new Thread[3];
        for (int t = 0; t < ts.length; t++) {
            final boolean client = t == 0;
            ts[t] = new Thread(() -> {
                while (System.nanoTime() < end) {
                    if (client) {
                        try {
                            call(port);
                        } catch (Exception e) {
                            throw new RuntimeException(e);
                        }
                    } else {
                        JfrWork.holdLock();
                        JfrWork.allocate();
                    }
                }
            }, "dd-peer-" + t);
            ts[t].start();
        }
        for (Thread t : ts) {
            t.join();
        }
        server.stop(0);
        Thread.sleep(Long.parseLong(args[1]) * 1000L);
        System.out.println("DdWork done after " + seconds + " s");
    }
}
