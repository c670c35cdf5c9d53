package jswift.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * benchmarks/gpu/run.sh in --dry-run mode, on the native build Maven just made: argument handling, the native
 * test run, the benchmark driver (tiny shapes on the CPU), the PyTorch peer's pairing (placeholder timings:
 * no torch here) and the report. The real run needs a GPU; this checks everything around the measurements.
 */
class GpuScriptDryRunTest {
  private static final Path ROOT = Path.of(System.getProperty("user.dir")).getParent();

  @Test
  void dryRunProducesACompleteReport(@TempDir Path out) throws Exception {
    Path build = ROOT.resolve("bindings/target/native-build");
    assertTrue(Files.isExecutable(build.resolve("jswift_bench")), "native build missing at " + build);
    ProcessBuilder pb = new ProcessBuilder("bash", ROOT.resolve("benchmarks/gpu/run.sh").toString(), out.toString(),
        "--dry-run", "--build-dir", build.toString())
        .redirectErrorStream(true).redirectOutput(out.resolve("stdout.txt").toFile());
    // the QLoRA step benchmark runs on this JVM's classpath (the jar is packaged after the tests)
    pb.environment().put("JSWIFT_CLASSPATH", System.getProperty("java.class.path"));
    pb.environment().put("PATH", Path.of(System.getProperty("java.home"), "bin") + ":" + System.getenv("PATH"));
    Process p = pb.start();
    assertTrue(p.waitFor(10, TimeUnit.MINUTES), "dry run timed out");
    String log = Files.readString(out.resolve("stdout.txt"));
    assertEquals(0, p.exitValue(), log);

    JsonNode r = new ObjectMapper().readTree(out.resolve("results.json").toFile());
    assertTrue(r.get("dry_run").asBoolean());
    assertEquals(0, r.get("native_tests").get("failed").asInt(), log);
    assertTrue(r.get("native_tests").get("passed").asInt() > 0);
    assertTrue(r.get("benchmark_errors").isEmpty(), r.get("benchmark_errors").toString());
    assertTrue(r.get("load_errors").isEmpty(), r.get("load_errors").toString());
    JsonNode benches = r.get("benchmarks");
    assertFalse(benches.isEmpty());
    String peer = Files.readString(ROOT.resolve("benchmarks/gpu/torch_peer.py"));
    for (JsonNode b : benches) {
      String name = b.get("name").asText();
      assertTrue(b.get("jswift_ms").asDouble() > 0, name);
      assertTrue(b.get("speedup_vs_torch").isNumber(), name + " was not paired with its peer");
      // every jswift benchmark must have a PyTorch counterpart for the real run
      assertTrue(peer.contains("def " + name + "(self, p)"), "torch_peer.py has no peer for " + name);
    }
    assertTrue(Files.readString(out.resolve("results.md")).contains("DRY RUN"));
    // the QLoRA part: jswift's step ran (tiny config, CPU), was paired with the peer, and the ratios were computed
    JsonNode q = r.get("qlora");
    assertTrue(q.get("jswift").get("tokens_per_s").asDouble() > 0, q.toString());
    assertTrue(Double.isFinite(q.get("jswift").get("loss").asDouble()), q.toString());
    assertTrue(q.get("step_speedup").isNumber(), q.toString());
    assertEquals(2, q.get("decode").size(), q.toString());
    // the per-op profiles of the extra step and generations (--profile 1): the NF4 tile GEMM trains, and decode
    // takes the fused GEMV with the adapter's term in one call
    JsonNode mine = q.get("jswift");
    assertTrue(mine.get("profile_step").asText().contains("jsw_nf4_matmul"), mine.toString());
    String decodeProfile = mine.get("decode").get(0).get("profile").asText();
    assertTrue(decodeProfile.contains("jsw_nf4_gemv") && decodeProfile.contains("jsw_lora_delta"), decodeProfile);
    for (JsonNode d : q.get("decode")) {
      assertTrue(d.get("speedup").isNumber(), q.toString());
      assertTrue(d.get("jswift_first_token_s").asDouble() > 0 && d.get("peer_first_token_s").asDouble() > 0,
          "time to the first token on both sides: " + d);
    }
    // the step replayed from a graph (--graph-steps: on the CPU a recording of the calls, so the graph path runs)
    assertTrue(mine.get("graph_step_s").asDouble() > 0, mine.toString());
    assertTrue(q.get("graph_step_speedup").isNumber(), q.toString());
    assertTrue(Files.readString(out.resolve("results.md")).contains("replayed from a graph"));
    assertTrue(mine.get("decode_graphs").asBoolean(), "the dry run decodes from graphs, as a GPU run does");
    assertTrue(Files.readString(out.resolve("results.md")).contains("QLoRA step"));
    // CUDA graphs: the eager lora_step ran; its graph twin is GPU-only, which the report says instead of a ratio
    JsonNode g = r.get("cuda_graphs");
    assertTrue(g.get("eager_ms").asDouble() > 0, g.toString());
    assertTrue(g.get("graph_ms").isNull() && g.get("speedup").isNull(), g.toString());
    assertTrue(g.get("note").asText().contains("GPU only"), g.toString());
    assertTrue(Files.readString(out.resolve("results.md")).contains("CUDA graphs"));
    // the before / after pairs of one run: the NF4 tile GEMM's backward in its five variants, the GEMV's three
    // kernels with plain and double-quantized scales, the GPTQ and AWQ GEMVs' two each and the LoRA low-rank
    // halves fused and unfused; NF4 with a few rows on the tensor cores, the tile GEMM and (up to 8 rows) the GEMV;
    // GPTQ and AWQ with 4 and 8 rows on the tile GEMM (listed first: CUDA's path for 5-8 rows now) and the GEMV
    boolean tileBwd = false, gemv = false, loraRank = false;
    int packedGemvs = 0, fewRows = 0, packedFewRows = 0;
    for (JsonNode v : r.get("kernel_variants")) {
      String name = v.get("name").asText(), shape = v.get("shape").asText();
      if (name.equals("nf4_matmul") && shape.contains("pass=bwd")) tileBwd = v.get("variants").size() == 5;
      if (name.equals("nf4_gemv")) gemv = v.get("variants").size() == 6;
      if (name.equals("gptq_gemv") || name.equals("awq_gemv")) packedGemvs += v.get("variants").size() == 2 ? 1 : 0;
      if (name.equals("lora_rank") && shape.contains("pass=up_grad")) loraRank = v.get("variants").size() == 2;
      if (name.equals("nf4_few_rows")) fewRows += v.get("variants").size() == (shape.contains("rows=16") ? 2 : 3) ? 1 : 0;
      if (name.equals("gptq_few_rows") || name.equals("awq_few_rows"))
        packedFewRows += v.get("variants").size() == 2 && v.get("variants").get(0).get("variant").asText().equals("path=tile") ? 1 : 0;
      for (JsonNode x : v.get("variants")) assertTrue(x.get("vs_first").asDouble() > 0, v.toString());
    }
    assertTrue(tileBwd && gemv && packedGemvs == 2 && loraRank && fewRows == 6 && packedFewRows == 4,
        r.get("kernel_variants").toString());
    assertTrue(r.get("fallbacks").isEmpty(), "no twin test failed, so no path is switched back: " + r.get("fallbacks"));
    assertTrue(Files.readString(out.resolve("results.md")).contains("Kernel variants in this run"));
  }

  /**
   * A failed twin test of a path that has a switch back (native/README.md, "Switches") sets that switch for the rest
   * of the run (fallbacks.py, exported by run.sh), and the report says so; a failed test of no such path sets none.
   */
  @Test
  void aFailedTwinTestSwitchesItsPathBackAndTheReportSaysSo(@TempDir Path out) throws Exception {
    Files.writeString(out.resolve("native_tests.json"), "{\"tests\": ["
        + "{\"name\": \"lora_rank_cuda_matches_cpu\", \"status\": \"failed\", \"detail\": \"xa: relative error 1\"},"
        + "{\"name\": \"rope_cuda_matches_cpu\", \"status\": \"failed\", \"detail\": \"x\"},"
        + "{\"name\": \"nf4_gemv_cuda_matches_cpu\", \"status\": \"passed\"}],"
        + " \"passed\": 1, \"failed\": 2, \"skipped\": 0}");
    String printed = python("benchmarks/gpu/fallbacks.py", out.resolve("native_tests.json").toString(),
        out.resolve("fallbacks.json").toString());
    assertEquals("JSWIFT_LORA_RANK=unfused", printed.strip());
    python("benchmarks/gpu/summarize.py", "--out", out.toString());
    String md = Files.readString(out.resolve("results.md"));
    assertTrue(md.contains("switched back for the benchmarks and Java steps: JSWIFT_LORA_RANK=unfused "
        + "(lora_rank_cuda_matches_cpu failed)"), md);
    JsonNode fb = new ObjectMapper().readTree(out.resolve("results.json").toFile()).get("fallbacks");
    assertEquals(1, fb.size(), fb.toString());
  }

  private static String python(String script, String... args) throws IOException, InterruptedException {
    java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("python3", ROOT.resolve(script).toString()));
    cmd.addAll(java.util.List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String text = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(1, TimeUnit.MINUTES), script + " timed out");
    assertEquals(0, p.exitValue(), text);
    return text;
  }

  @Test
  void refusesAMissingOutputDirectoryArgument() throws IOException, InterruptedException {
    Process p = new ProcessBuilder("bash", ROOT.resolve("benchmarks/gpu/run.sh").toString(), "--dry-run")
        .redirectErrorStream(true).start();
    String text = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(1, TimeUnit.MINUTES));
    assertEquals(2, p.exitValue(), text);
    assertTrue(text.contains("usage"), text);
  }
}
