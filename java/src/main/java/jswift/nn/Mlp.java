package jswift.nn;

import jswift.tensor.Arena;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * The SwiGLU MLP: down(silu(gate(x)) * up(x)), followed by the active bottleneck adapter when one is set
 * ({@link BottleneckAdapter}: ms-swift's --train_type adapter wraps the MLP's output).
 */
public final class Mlp {
  private final Linear gate, up, down;
  private final java.util.Map<String, BottleneckAdapter> adapters = new java.util.LinkedHashMap<>();
  private BottleneckAdapter active;

  public static final class Saved {
    final Linear.Saved gate = new Linear.Saved(), up = new Linear.Saved(), down = new Linear.Saved();
    final BottleneckAdapter.Saved adapter = new BottleneckAdapter.Saved();
    Tensor g, u;
  }

  public Mlp(Linear gate, Linear up, Linear down) {
    this.gate = gate;
    this.up = up;
    this.down = down;
  }

  public Linear[] projections() {
    return new Linear[] {gate, up, down};
  }

  /** Gives adapter {@code name} a bottleneck adapter on this MLP's output (replacing and freeing an older one). */
  public void setAdapter(String name, BottleneckAdapter adapter) {
    BottleneckAdapter old = adapters.put(name, adapter);
    if (old != null && old != adapter) {
      if (old == active) active = adapter;
      old.close();
    }
  }

  /** The bottleneck adapters by adapter name. */
  public java.util.Map<String, BottleneckAdapter> adapters() {
    return java.util.Collections.unmodifiableMap(adapters);
  }

  /** Runs adapter {@code name}'s bottleneck adapter after the MLP (none if null or this MLP has none). */
  public void setActiveAdapter(String name) {
    active = name == null ? null : adapters.get(name);
  }

  public BottleneckAdapter activeAdapter() {
    return active;
  }

  /** {@code training} turns LoRA dropout on. */
  public Tensor forward(Arena a, Tensor x, long seed, Saved s, boolean training) {
    Tensor y = down.forward(a, activation(a, x, seed, s, training), seed + 2, s == null ? null : s.down, training);
    return active == null ? y : active.forward(a, y, s == null ? null : s.adapter);
  }

  /**
   * A checkpointed layer's recomputation: what the backward reads, which is not the output, so the down
   * projection only records its input when it can ({@link Linear#recordInputOnly}).
   */
  void recompute(Arena a, Tensor x, long seed, Saved s) {
    Tensor act = activation(a, x, seed, s, true);
    if (active != null) {  // the adapter reads the MLP's output
      active.forward(a, down.forward(a, act, seed + 2, s.down, true), s.adapter);
      return;
    }
    if (!down.recordInputOnly(act, s.down)) down.forward(a, act, seed + 2, s.down, true);
  }

  /** silu(gate(x)) * up(x), keeping gate(x) and up(x) in s. */
  private Tensor activation(Arena a, Tensor x, long seed, Saved s, boolean training) {
    Tensor g = gate.forward(a, x, seed, s == null ? null : s.gate, training);
    Tensor u = up.forward(a, x, seed + 1, s == null ? null : s.up, training);
    Tensor act = a.allocate(g.dtype(), g.device(), g.shape());
    Kernels.swigluForward(g, u, act);
    if (s != null) {
      s.g = g;
      s.u = u;
    }
    return act;
  }

  public Tensor backward(Arena a, Tensor dy, long seed, Saved s) {
    if (active != null) dy = active.backward(a, dy, s.adapter);
    Tensor dact = a.allocate(s.g.dtype(), s.g.device(), s.g.shape());
    down.backward(a, dy, s.down, seed + 2, dact, false);
    Tensor dg = a.allocate(s.g.dtype(), s.g.device(), s.g.shape());
    Tensor du = a.allocate(s.g.dtype(), s.g.device(), s.g.shape());
    Kernels.swigluBackward(dact, s.g, s.u, dg, du);
    Tensor dx = a.allocate(dy.dtype(), dy.device(), dy.size(0), gate.inFeatures());
    gate.backward(a, dg, s.gate, seed, dx, false);
    up.backward(a, du, s.up, seed + 1, dx, true);
    return dx;
  }

  /** Frees the bottleneck adapters. */
  public void closeAdapters() {
    adapters.values().forEach(BottleneckAdapter::close);
    adapters.clear();
    active = null;
  }
}
