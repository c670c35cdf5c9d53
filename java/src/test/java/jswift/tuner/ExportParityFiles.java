package jswift.tuner;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsDtype;
import jswift.model.SafetensorsWriter;
import jswift.model.TensorSource;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.train.AdamW;

/**
 * Input for the developer check scripts/check_export_with_hf.py, written only when the system property
 * {@code jswift.export.parity} names a folder (e.g. {@code -Djswift.export.parity=$PWD/target/export-parity}):
 * per adapter, a jswift-trained and jswift-saved PEFT adapter ({@code adapter/}: the fixture adapter after three
 * AdamW steps, so its weights are jswift's own), the model merged from it ({@code merged/}), and the logits jswift
 * computes for both on the fixture batch ({@code jswift_logits.safetensors}), which the script compares with
 * transformers + PEFT. The Java build never needs Python; the script is run by hand.
 */
final class ExportParityFiles {
  static final String PROPERTY = "jswift.export.parity";

  private ExportParityFiles() {}

  static void writeIfAsked(String adapter) throws IOException {
    String target = System.getProperty(PROPERTY);
    if (target == null || target.isBlank()) return;
    Path dir = Path.of(target).toAbsolutePath().resolve(adapter);
    Path saved = dir.resolve("adapter"), merged = dir.resolve("merged");
    Files.createDirectories(dir);
    int[][] ids = FixtureBatch.rows("input_ids"), mask = FixtureBatch.rows("attention_mask");
    float[] adapterLogits, mergedLogits;
    try (CausalLM lm = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      lm.loadAdapter(adapter, Fixtures.llamaGqa().resolve("adapters/" + adapter));
      lm.setActiveAdapter(adapter);
      Map<String, Parameter> params = lm.activeAdapterParameters();
      params.values().forEach(p -> p.setTrainable(true));
      Batch train = Batch.padded(ids, mask, FixtureBatch.rows("labels"));
      try (AdamW opt = new AdamW(params.values(), 0.9f, 0.999f, 1e-8f, 0f, 0f)) {
        for (int step = 0; step < 3; step++) {
          opt.zeroGrad();
          lm.forwardBackward(train, step);
          opt.step(1e-2f);
        }
      }
      PeftAdapterWriter.save(lm, adapter, LoraConfig.read(Fixtures.llamaGqa().resolve("adapters/" + adapter)),
          Fixtures.llamaGqa().toAbsolutePath().toString(), saved, true);
      adapterLogits = lm.logits(FixtureBatch.batch());
    }
    LoraMerge.merge(Fixtures.llamaGqa(), saved, merged, LoraMerge.Options.on(Device.CPU).withExistOk(true));
    try (CausalLM lm = CausalLM.load(merged, Device.CPU)) {
      mergedLogits = lm.logits(FixtureBatch.batch());
    }
    Assert.relNorm(adapter + " trained: merged vs adapter", mergedLogits, adapterLogits, 1e-5);
    long[] shape = {FixtureBatch.ROWS, FixtureBatch.SEQ};
    long[] logitsShape = {FixtureBatch.ROWS, FixtureBatch.SEQ,
        adapterLogits.length / (FixtureBatch.ROWS * FixtureBatch.SEQ)};
    SafetensorsWriter.write(dir.resolve("jswift_logits.safetensors"), List.of(
        TensorSource.of("input_ids", SafetensorsDtype.I64, shape, longs(ids)),
        TensorSource.of("attention_mask", SafetensorsDtype.I64, shape, longs(mask)),
        TensorSource.of("adapter_logits", SafetensorsDtype.F32, logitsShape, floats(adapterLogits)),
        TensorSource.of("merged_logits", SafetensorsDtype.F32, logitsShape, floats(mergedLogits))),
        SafetensorsWriter.PT_METADATA);
    System.out.println("export parity files for " + adapter + ": " + dir);
  }

  private static byte[] longs(int[][] rows) {
    ByteBuffer b = ByteBuffer.allocate(rows.length * rows[0].length * 8).order(ByteOrder.LITTLE_ENDIAN);
    for (int[] r : rows) for (int v : r) b.putLong(v);
    return b.array();
  }

  private static byte[] floats(float[] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float f : v) b.putFloat(f);
    return b.array();
  }
}
