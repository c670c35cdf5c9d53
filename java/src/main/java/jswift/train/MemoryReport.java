package jswift.train;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Collections;
import jswift.model.CausalLM;
import jswift.nn.Parameter;
import jswift.tensor.Device;
import jswift.tensor.Kernels;

/**
 * {@code --report_memory}: where the peak memory of training goes, on the device the model runs on. The native
 * allocator's peak (since the run started) is split into the base weights (4-bit storage for a quantized base),
 * what training adds per trainable parameter (an adapter's own values, fp32 master copies of bf16 weights, fp32
 * gradients), the optimizer's state (AdamW moments), and the rest: activations kept for the backward and kernel
 * workspaces, which live in each step's arena and are not told apart.
 *
 * @param weights     the model's base weights
 * @param trainable   adapter values, fp32 masters and gradients of the trainable parameters
 * @param optimizer   optimizer state
 * @param peak        the allocator's peak of allocated bytes
 */
public record MemoryReport(long weights, long trainable, long optimizer, long peak) {

  /** The peak minus the persistent parts: activations and workspace of the heaviest step. */
  public long activationsAndWorkspace() {
    return Math.max(0, peak - weights - trainable - optimizer);
  }

  /** The report now (the allocator's peak since its last reset). */
  public static MemoryReport measure(CausalLM model, List<Parameter> trainable, AdamW optimizer, Device device) {
    Set<Parameter> base = Collections.newSetFromMap(new IdentityHashMap<>());
    base.addAll(model.parameters().values());
    long extra = 0;
    for (Parameter p : trainable) {
      if (!base.contains(p)) extra += p.value().byteSize();                   // an adapter's own tensor
      if (p.master() != null && p.master() != p.value()) extra += p.master().byteSize();
      if (p.holdsGrad()) extra += p.grad().byteSize();   // not a released one (per-parameter steps)
    }
    return new MemoryReport(model.weightBytes(), extra, optimizer.stateBytes(), Kernels.memoryStats(device)[2]);
  }

  /** One line: {@code memory (peak 1.23 GiB): weights ..., trainable ..., optimizer ..., activations+workspace ...}. */
  public String describe() {
    return String.format("memory (peak %s): weights %s, trainable (adapter / masters / grads) %s, optimizer state %s,"
        + " activations + workspace %s", size(peak), size(weights), size(trainable), size(optimizer),
        size(activationsAndWorkspace()));
  }

  /** The report as logging.jsonl fields (bytes). */
  public Map<String, Long> fields() {
    Map<String, Long> m = new java.util.LinkedHashMap<>();
    m.put("memory_peak", peak);
    m.put("memory_weights", weights);
    m.put("memory_trainable", trainable);
    m.put("memory_optimizer", optimizer);
    m.put("memory_activations_workspace", activationsAndWorkspace());
    return m;
  }

  private static String size(long bytes) {
    return bytes >= 1L << 30 ? String.format("%.2f GiB", bytes / (double) (1L << 30))
        : String.format("%.1f MiB", bytes / (double) (1L << 20));
  }
}
