// PeerWork: the program test_pyroscope_java.sh runs under the Pyroscope
// Java agent, on the work of tests/fixtures/java/JfrWork.java (compiled
// with it). Three threads for the given seconds: one burns CPU and
// allocates inside Pyroscope.LabelsWrapper (label handler=wrapped), two
// contend for JfrWork's monitor and allocate inside a ScopedContext (label
// handler=scoped). The labels reach profcol in the upload's `labels` part.
// Then it idles LINGER seconds: the agent does not upload at exit, so the
// last period's upload needs the JVM alive.
//   java -javaagent:agent.jar -cp agent.jar:. PeerWork SECONDS LINGER
import io.pyroscope.labels.v2.LabelsSet;
import io.pyroscope.labels.v2.Pyroscope;
import io.pyroscope.labels.v2.ScopedContext;

public class PeerWork {
    public static void main(String[] args) throws Exception {
        long seconds = Long.parseLong(args[0]);
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        Thread[] ts = new Thread[3];
        for (int t = 0; t < ts.length; t++) {
            final boolean wrapped = t == 0;
            ts[t] = new Thread(() -> {
                while (System.nanoTime() < end) {
                    if (wrapped) {
                        Pyroscope.LabelsWrapper.run(new LabelsSet("handler", "wrapped"), () -> {
                            JfrWork.sink += JfrWork.burnCpu(5_000_000);
                            JfrWork.allocate();
                        });
                    } else {
                        try (ScopedContext c = new ScopedContext(new LabelsSet("handler", "scoped"))) {
                            JfrWork.holdLock();
                            JfrWork.allocate();
                        }
                    }
                }
            }, "peer-" + t);
            ts[t].start();
        }
        for (Thread t : ts) {
            t.join();
        }
        Thread.sleep(Long.parseLong(args[1]) * 1000L);
        System.out.println("PeerWork done after " + seconds + " s");
    }
}
