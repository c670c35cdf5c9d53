package jswift.bench;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import jswift.tensor.Kernels;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs the JMH benchmarks and prints one Markdown table: per op and shape, jswift's time, each peer's time
 * measured in the same run, the ratio (peer time / jswift time: above 1 means jswift is faster), jswift's
 * GFLOP/s and GB/s, and the peak extra memory of each side.
 *
 * <pre>java -cp benchmarks/target/jswift-benchmarks.jar jswift.bench.BenchReport [regex] [--quick] [--out FILE]</pre>
 */
public final class BenchReport {
  private BenchReport() {}

  public static void main(String[] args) throws RunnerException, IOException {
    String include = ".*Bench.*";
    boolean quick = false;
    Path out = null;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--quick")) quick = true;
      else if (args[i].equals("--out")) out = Path.of(args[++i]);
      else include = args[i];
    }
    Path memFile = Files.createTempFile("jswift-bench-mem", ".tsv");
    ChainedOptionsBuilder opts = new OptionsBuilder().include(include)
        .jvmArgsAppend("-Djswift.bench.memfile=" + memFile, "-Xss4m");
    if (quick) {
      opts.warmupIterations(1).warmupTime(TimeValue.milliseconds(500)).measurementIterations(3)
          .measurementTime(TimeValue.milliseconds(500));
    }
    Collection<RunResult> results = new Runner(opts.build()).run();
    String table = table(results, readMemory(memFile));
    System.out.println();
    System.out.println(table);
    if (out != null) Files.writeString(out, table);
  }

  private static Map<String, Long> readMemory(Path memFile) throws IOException {
    Map<String, Long> mem = new TreeMap<>();
    for (String line : Files.readAllLines(memFile)) {
      String[] p = line.split("\t");
      if (p.length == 3) mem.put(p[0] + "|" + p[1], Long.parseLong(p[2]));
    }
    return mem;
  }

  static String table(Collection<RunResult> results, Map<String, Long> memory) {
    // (class, shape) -> method -> ms
    Map<String, Map<String, Double>> times = new LinkedHashMap<>();
    Map<String, String> units = new LinkedHashMap<>();
    for (RunResult r : results) {
      String bench = r.getParams().getBenchmark();
      int dot = bench.lastIndexOf('.');
      String cls = bench.substring(0, dot), method = bench.substring(dot + 1);
      String shape = r.getParams().getParam("shape");
      // Other parameters (e.g. GptqGemvBench's g_idx order) tell rows of one shape apart: "shape|a=x b=y".
      StringBuilder others = new StringBuilder();
      for (String name : r.getParams().getParamsKeys())
        if (!name.equals("shape")) others.append(others.length() == 0 ? "" : " ").append(name).append('=').append(r.getParams().getParam(name));
      String key = cls + "|" + (shape == null ? "" : shape) + "|" + others;
      double ms = r.getPrimaryResult().getScore();
      units.put(key, r.getPrimaryResult().getScoreUnit());
      times.computeIfAbsent(key, k -> new LinkedHashMap<>()).put(method, ms);
    }
    StringBuilder sb = new StringBuilder();
    sb.append("Machine: ").append(Runtime.getRuntime().availableProcessors()).append(" cores, ")
        .append(System.getProperty("os.arch")).append(", Java ").append(System.getProperty("java.version"))
        .append("; ").append(Kernels.buildInfo()).append("; ").append(LocalDate.now()).append("\n\n");
    sb.append("| op | shape | jswift | peer | peer time | peer / jswift | jswift GFLOP/s | jswift GB/s | peak extra MB jswift / peer |\n");
    sb.append("|---|---|---|---|---|---|---|---|---|\n");
    for (Map.Entry<String, Map<String, Double>> e : times.entrySet()) {
      String[] k = e.getKey().split("\\|", -1);
      String cls = k[0], shape = k[1], label = k[2].isEmpty() ? shape : shape + " " + k[2];
      String op = cls.substring(cls.lastIndexOf('.') + 1).replace("Bench", "");
      Double mine = e.getValue().get("jswift");
      if (mine == null) continue;
      Work w = work(cls, shape);
      String unit = units.get(e.getKey()).replace("/op", "");
      double seconds = mine * ("ms".equals(unit) ? 1e-3 : "us".equals(unit) ? 1e-6 : 1.0);
      String gflops = w == null ? "" : String.format("%.1f", w.flops() / seconds / 1e9);
      String gbs = w == null ? "" : String.format("%.1f", w.bytes() / seconds / 1e9);
      Long myMem = memory.get(cls + ".jswift|" + shape);
      for (Map.Entry<String, Double> peer : e.getValue().entrySet()) {
        if (peer.getKey().equals("jswift")) continue;
        Long peerMem = memory.get(cls + "." + peer.getKey() + "|" + shape);
        sb.append(String.format("| %s | %s | %.3f %s | %s | %.3f %s | %.2fx | %s | %s | %s |\n", op, label, mine, unit,
            peer.getKey(), peer.getValue(), unit, peer.getValue() / mine, gflops, gbs, mb(myMem) + " / " + mb(peerMem)));
      }
    }
    return sb.toString();
  }

  private static String mb(Long bytes) {
    return bytes == null || bytes < 0 ? "-" : String.format("%.1f", bytes / 1048576.0);
  }

  private static Work work(String cls, String shape) {
    try {
      Method m = Class.forName(cls).getDeclaredMethod("work", String.class);
      m.setAccessible(true);
      return (Work) m.invoke(null, shape);
    } catch (ReflectiveOperationException e) {
      return null;
    }
  }

}
