package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import jswift.model.AtomicFile;
import jswift.model.CausalLM;
import jswift.model.Checkpoint;
import jswift.model.SafetensorsFile;
import jswift.model.SafetensorsWriter;
import jswift.model.TensorSource;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Merging the llama-gqa fixture's PEFT adapters into its base: the merged model must give the logits of base +
 * adapter, keep every tensor name, dtype and shape of the base, change only the adapted weights (to W + s B A,
 * or for DoRA (m / ||W + s B A||)[:, None] (W + s B A), checked against a double-precision computation here),
 * shard and reload, and refuse what it cannot merge or must not overwrite, leaving no files behind when it fails.
 *
 * <p>Tolerances: merged vs base + adapter logits, relative norm 1e-5 (the bound; both are fp32 and differ
 * only in whether s B A is added to W before or after the matmul with x). Merged fp32 weights vs W + s B A in
 * double: 1e-6 absolute (|W|, |s B A| are below 2 here, so that is a few fp32 ulps; the GEMM's fp32 rounding
 * of a rank-4 sum is well inside it). Merged DoRA weights: 1e-6 absolute plus 1e-5 relative, since the row
 * norm (an fp32 sum of up to 176 squares), its inverse and the rescaling add a few ulps relative each.
 */
class LoraMergeTest {
  private static final Path BASE = Fixtures.llamaGqa();

  private static Path adapterDir(String name) {
    return BASE.resolve("adapters/" + name);
  }

  private static float[] logits(Path model, Path adapter) throws IOException {
    try (CausalLM lm = CausalLM.load(model, Device.CPU)) {
      if (adapter != null) {
        lm.loadAdapter("a", adapter);
        lm.setActiveAdapter("a");
      }
      return lm.logits(FixtureBatch.batch());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"lora", "rslora", "dora"})
  void mergedModelGivesTheLogitsOfBasePlusAdapter(String name, @TempDir Path tmp) throws IOException {
    Path out = tmp.resolve("merged");
    LoraMerge.Result r = LoraMerge.merge(BASE, adapterDir(name), out, LoraMerge.Options.on(Device.CPU));
    assertEquals(14, r.mergedWeights());  // 7 projections x 2 layers
    assertEquals(List.of("config.json", "generation_config.json", "model.safetensors"), listing(out));
    assertArrayEquals(Files.readAllBytes(BASE.resolve("config.json")), Files.readAllBytes(out.resolve("config.json")));
    float[] merged = logits(out, null), withAdapter = logits(BASE, adapterDir(name));
    Assert.relNorm(name + " merged vs base+adapter", merged, withAdapter, 1e-5);
    Assert.relNorm(name + " merged vs PEFT", merged, FixtureBatch.reference(name + ".logits"), 1e-5);
    ExportParityFiles.writeIfAsked(name);
  }

  @Test
  void onlyAdaptedWeightsChangeAndTheyBecomeWPlusSBA(@TempDir Path tmp) throws IOException {
    Path out = tmp.resolve("merged");
    LoraMerge.merge(BASE, adapterDir("rslora"), out, LoraMerge.Options.on(Device.CPU));
    LoraConfig cfg = LoraConfig.read(adapterDir("rslora"));
    try (SafetensorsFile base = SafetensorsFile.open(BASE.resolve("model.safetensors"));
        SafetensorsFile merged = SafetensorsFile.open(out.resolve("model.safetensors"));
        SafetensorsFile ad = SafetensorsFile.open(adapterDir("rslora").resolve("adapter_model.safetensors"))) {
      assertEquals(base.names(), merged.names());
      assertEquals(base.metadata(), merged.metadata());
      int changed = 0;
      for (String n : base.names()) {
        assertEquals(base.entry(n).dtype(), merged.entry(n).dtype(), n);
        assertArrayEquals(base.entry(n).shape(), merged.entry(n).shape(), n);
        String module = n.substring(0, n.length() - ".weight".length());
        String aKey = "base_model.model." + module + ".lora_A.weight";
        if (!ad.contains(aKey)) {
          assertEquals(base.bytes(n), merged.bytes(n), n + " must be copied unchanged");
          continue;
        }
        changed++;
        float[] want = wPlusSba(base.floats(n), ad.floats(aKey),
            ad.floats("base_model.model." + module + ".lora_B.weight"),
            base.entry(n).shape(), cfg.r(), cfg.scaleFor(module));
        Assert.close(n, merged.floats(n), want, 1e-6, 0);
      }
      assertEquals(14, changed);
    }
  }

  @Test
  void doraWeightsBecomeTheRescaledRowsOfWPlusSBA(@TempDir Path tmp) throws IOException {
    Path out = tmp.resolve("merged");
    LoraMerge.merge(BASE, adapterDir("dora"), out, LoraMerge.Options.on(Device.CPU));
    try (SafetensorsFile base = SafetensorsFile.open(BASE.resolve("model.safetensors"));
        SafetensorsFile merged = SafetensorsFile.open(out.resolve("model.safetensors"));
        SafetensorsFile ad = SafetensorsFile.open(adapterDir("dora").resolve("adapter_model.safetensors"))) {
      int changed = 0;
      for (String n : base.names()) {
        String p = "base_model.model." + n.substring(0, n.length() - ".weight".length());
        if (!ad.contains(p + ".lora_magnitude_vector")) {
          assertEquals(base.bytes(n), merged.bytes(n), n + " must be copied unchanged");
          continue;
        }
        changed++;
        long[] shape = base.entry(n).shape();
        float[] sum = wPlusSba(base.floats(n), ad.floats(p + ".lora_A.weight"), ad.floats(p + ".lora_B.weight"), shape,
            4, 2.0);
        float[] m = ad.floats(p + ".lora_magnitude_vector"), want = new float[sum.length];
        int rows = (int) shape[0], cols = (int) shape[1];
        for (int r = 0; r < rows; r++) {
          double ss = 0;
          for (int c = 0; c < cols; c++) ss += (double) sum[r * cols + c] * sum[r * cols + c];
          double f = m[r] / Math.sqrt(ss);
          for (int c = 0; c < cols; c++) want[r * cols + c] = (float) (f * sum[r * cols + c]);
        }
        Assert.close(n, merged.floats(n), want, 1e-6, 1e-5);
      }
      assertEquals(14, changed);
    }
  }

  /** W + s B A in double: W [out, in], A [r, in], B [out, r]. */
  static float[] wPlusSba(float[] w, float[] a, float[] b, long[] shape, int r, double s) {
    int out = (int) shape[0], in = (int) shape[1];
    float[] res = new float[w.length];
    for (int i = 0; i < out; i++)
      for (int j = 0; j < in; j++) {
        double acc = 0;
        for (int k = 0; k < r; k++) acc += (double) b[i * r + k] * a[k * in + j];
        res[i * in + j] = (float) (w[i * in + j] + s * acc);
      }
    return res;
  }

  @Test
  void aBf16BaseIsMergedInFp32AndStaysBf16(@TempDir Path tmp) throws IOException {
    Path base = bf16Copy(tmp.resolve("base-bf16"));
    Path out = tmp.resolve("merged");
    LoraMerge.merge(base, adapterDir("lora"), out, LoraMerge.Options.on(Device.CPU));
    try (SafetensorsFile b = SafetensorsFile.open(base.resolve("model.safetensors"));
        SafetensorsFile m = SafetensorsFile.open(out.resolve("model.safetensors"));
        SafetensorsFile ad = SafetensorsFile.open(adapterDir("lora").resolve("adapter_model.safetensors"))) {
      String n = "model.layers.1.mlp.down_proj.weight", p = "base_model.model.model.layers.1.mlp.down_proj.";
      assertEquals("BF16", m.entry(n).dtype());
      float[] exact = wPlusSba(b.floats(n), ad.floats(p + "lora_A.weight"), ad.floats(p + "lora_B.weight"),
          b.entry(n).shape(), 4, 2.0);
      float[] got = m.floats(n);
      // One rounding to bf16 of the fp32 sum: within half a bf16 ulp (2^-8 relative) of the exact value.
      for (int i = 0; i < got.length; i++)
        assertTrue(Math.abs(got[i] - exact[i]) <= Math.abs(exact[i]) * 0x1p-8 + 1e-30, n + "[" + i + "]");
      assertEquals(b.bytes("model.norm.weight"), m.bytes("model.norm.weight"));
    }
    // Loads and runs: bf16 rounding of the merged weights moves the logits by well under 1% (relative norm).
    Assert.relNorm("bf16 merged", logits(out, null), logits(base, adapterDir("lora")), 1e-2);
  }

  /** The fixture model with every tensor stored as bf16 (the usual dtype of a real checkpoint). */
  private static Path bf16Copy(Path dir) throws IOException {
    Files.createDirectories(dir);
    Files.copy(BASE.resolve("config.json"), dir.resolve("config.json"));
    try (SafetensorsFile f = SafetensorsFile.open(BASE.resolve("model.safetensors"))) {
      List<TensorSource> all = new ArrayList<>();
      for (String n : f.names())
        all.add(TensorSource.computed(n, DType.BF16, f.entry(n).shape(), () -> f.load(n, DType.BF16, Device.CPU)));
      SafetensorsWriter.write(dir.resolve("model.safetensors"), all, SafetensorsWriter.PT_METADATA);
    }
    return dir;
  }

  @Test
  void smallShardsAreWrittenWithAnIndexAndLoad(@TempDir Path tmp) throws IOException {
    Path single = tmp.resolve("single"), sharded = tmp.resolve("sharded");
    LoraMerge.merge(BASE, adapterDir("lora"), single, LoraMerge.Options.on(Device.CPU));
    LoraMerge.merge(BASE, adapterDir("lora"), sharded, LoraMerge.Options.on(Device.CPU).withMaxShardSize(200_000));
    assertEquals(List.of("config.json", "generation_config.json", "model-00001-of-00004.safetensors",
        "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
        "model.safetensors.index.json"), listing(sharded));
    try (Checkpoint s = Checkpoint.open(sharded);
        SafetensorsFile one = SafetensorsFile.open(single.resolve("model.safetensors"))) {
      assertEquals(one.names(), s.names());
      for (String n : one.names()) assertEquals(one.bytes(n), s.file(n).bytes(n), n);
    }
    assertArrayEquals(logits(single, null), logits(sharded, null));
  }

  @Test
  void aNonEmptyOutputFolderIsRefusedWithoutExistOk(@TempDir Path tmp) throws IOException {
    Path out = Files.createDirectories(tmp.resolve("out"));
    Files.writeString(out.resolve("keep.txt"), "mine");
    FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class,
        () -> LoraMerge.merge(BASE, adapterDir("lora"), out, LoraMerge.Options.on(Device.CPU)));
    assertTrue(e.getMessage().contains("--exist_ok"), e.getMessage());
    assertEquals(List.of("keep.txt"), listing(out));
    LoraMerge.merge(BASE, adapterDir("lora"), out, LoraMerge.Options.on(Device.CPU).withExistOk(true));
    assertEquals(List.of("config.json", "generation_config.json", "keep.txt", "model.safetensors"), listing(out));
    // An empty folder is fine without the flag.
    LoraMerge.merge(BASE, adapterDir("lora"), Files.createDirectories(tmp.resolve("empty")),
        LoraMerge.Options.on(Device.CPU));
  }

  @Test
  void theOutputCannotBeAnInput() {
    for (Path out : List.of(BASE, adapterDir("lora"), BASE.resolve("adapters/../.")))
      assertThrows(IllegalArgumentException.class,
          () -> LoraMerge.merge(BASE, adapterDir("lora"), out, LoraMerge.Options.on(Device.CPU).withExistOk(true)));
  }

  @Test
  void anAdapterOfAnotherModelIsRefusedBeforeAnythingIsWritten(@TempDir Path tmp) throws IOException {
    // A LoRA pair for a 32-wide q_proj (the fixture's is 64 x 64) and one for a layer the base does not have.
    Path other = tmp.resolve("other");
    Files.createDirectories(other);
    Files.copy(adapterDir("lora").resolve("adapter_config.json"), other.resolve("adapter_config.json"));
    String q = "base_model.model.model.layers.0.self_attn.q_proj.", l5 = "base_model.model.model.layers.5.mlp.up_proj.";
    SafetensorsWriter.write(other.resolve("adapter_model.safetensors"), List.of(
        zeros(q + "lora_A.weight", 4, 32), zeros(q + "lora_B.weight", 32, 4),
        zeros(l5 + "lora_A.weight", 4, 64), zeros(l5 + "lora_B.weight", 176, 4)), SafetensorsWriter.PT_METADATA);
    Path out = tmp.resolve("merged");
    IOException e = assertThrows(IOException.class,
        () -> LoraMerge.merge(BASE, other, out, LoraMerge.Options.on(Device.CPU)));
    String m = e.getMessage();
    assertTrue(m.contains("does not match the base model") && m.contains("another model"), m);
    assertTrue(m.contains("self_attn.q_proj: lora_A [4, 32] / lora_B [32, 4] do not fit the base weight [64, 64]"), m);
    assertTrue(m.contains("the base has no tensor 'model.layers.5.mlp.up_proj.weight'"), m);
    assertFalse(Files.exists(out));
  }

  private static TensorSource zeros(String name, long rows, long cols) {
    return TensorSource.of(name, jswift.model.SafetensorsDtype.F32, new long[] {rows, cols},
        new byte[(int) (rows * cols * 4)]);
  }

  @Test
  void doraConfigWithoutMagnitudesAndQuantizedBasesAreRefused(@TempDir Path tmp) throws IOException {
    Path half = Files.createDirectories(tmp.resolve("half-dora"));
    Files.copy(adapterDir("dora").resolve("adapter_config.json"), half.resolve("adapter_config.json"));
    Files.copy(adapterDir("lora").resolve("adapter_model.safetensors"), half.resolve("adapter_model.safetensors"));
    IOException dora = assertThrows(IOException.class,
        () -> LoraMerge.merge(BASE, half, tmp.resolve("d"), LoraMerge.Options.on(Device.CPU)));
    assertTrue(dora.getMessage().contains("has no lora_magnitude_vector, but adapter_config.json sets use_dora"),
        dora.getMessage());
    Path q = Files.createDirectories(tmp.resolve("quantized"));
    Files.writeString(q.resolve("config.json"),
        "{\"model_type\": \"llama\", \"quantization_config\": {\"quant_method\": \"bitsandbytes\"}}");
    IOException quant = assertThrows(IOException.class,
        () -> LoraMerge.merge(q, adapterDir("lora"), tmp.resolve("q-merged"), LoraMerge.Options.on(Device.CPU)));
    assertTrue(quant.getMessage().contains("quantized") && quant.getMessage().contains("bitsandbytes"),
        quant.getMessage());
    assertFalse(Files.exists(tmp.resolve("d")) || Files.exists(tmp.resolve("q-merged")));
  }

  @Test
  void aWriteErrorRemovesWhatTheMergeWrote(@TempDir Path tmp) throws IOException {
    // config.json is copied after the weights; a non-empty folder in its place makes that rename fail.
    Path out = Files.createDirectories(tmp.resolve("out"));
    Files.createDirectories(out.resolve("config.json"));
    Files.writeString(out.resolve("config.json/x"), "blocks the rename");
    assertThrows(IOException.class,
        () -> LoraMerge.merge(BASE, adapterDir("lora"), out, LoraMerge.Options.on(Device.CPU).withExistOk(true)));
    assertEquals(List.of("config.json"), listing(out));  // the weights written before are gone, no .tmp left
    assertFalse(Files.exists(AtomicFile.temporary(out.resolve("config.json"))));
  }

  @Test
  void defaultOutputIsTheAdapterFolderWithMergedAppended() {
    assertEquals(Path.of("/runs/v0/checkpoint-10-merged"),
        LoraMerge.defaultOutputDir(Path.of("/runs/v0/checkpoint-10/")));
    assertEquals(Path.of("/runs/v0/checkpoint-10-merged"),
        LoraMerge.defaultOutputDir(Path.of("/runs/v0/x/../checkpoint-10")));
  }

  static List<String> listing(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
    }
  }

}
