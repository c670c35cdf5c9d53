package jswift.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jswift.model.CausalLM;
import jswift.model.CausalLM.Quantization;
import jswift.tensor.DType;
import jswift.tensor.Device;

/**
 * One LoRA / QLoRA SFT step on the CPU (the training benchmark of the sft issue): batch 1, a {@code seq}-token row
 * with every token labelled, LoRA r=8 alpha=32 on all linear layers, forward + backward + AdamW, as
 * {@code sft_step_peer.py} does with transformers + PEFT. Median step time of {@code steps} steps after 2 warm-up
 * steps; peak RSS of the process (VmHWM, the whole run: model load included, as the peer reports ru_maxrss).
 * {@code java -cp ... jswift.bench.SftStepBench MODEL_DIR lora|qlora [seq] [steps] [checkpointing]}; one JSON line.
 */
public final class SftStepBench {
  private SftStepBench() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    String mode = args.length > 1 ? args[1] : "lora";
    int seq = args.length > 2 ? Integer.parseInt(args[2]) : 512;
    int steps = args.length > 3 ? Integer.parseInt(args[3]) : 5;
    boolean checkpointing = args.length > 4 && Boolean.parseBoolean(args[4]);
    Quantization q = switch (mode) {
      case "lora" -> Quantization.NONE;
      case "qlora" -> Quantization.NF4;
      default -> throw new IllegalArgumentException("mode must be lora or qlora, got " + mode);
    };
    try (CausalLM m = CausalLM.load(dir, Device.CPU, DType.F32, q)) {
      m.setGradientCheckpointing(checkpointing);
      LoraStepTimer.Timing t = LoraStepTimer.run(m, 8, 32, seq, steps);
      double median = t.medianSeconds(), loss = t.loss();
      System.out.printf("{\"impl\": \"jswift\", \"mode\": \"%s\", \"checkpointing\": %b, \"tokens_per_s\": %.2f,"
          + " \"step_s\": %.3f, \"peak_rss_gib\": %.3f, \"loss\": %.4f}%n", mode, checkpointing, seq / median, median,
          peakRssKb() / 1048576.0, loss);
    }
  }

  private static long peakRssKb() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status")))
      if (line.startsWith("VmHWM:")) return Long.parseLong(line.substring(6).trim().split("\\s+")[0]);
    return -1;
  }
}
