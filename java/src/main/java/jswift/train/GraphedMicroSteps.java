package jswift.train;

import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.tensor.Device;
import jswift.tensor.DeviceGraph;
import jswift.tensor.JswiftNativeException;
import jswift.tensor.Kernels;

/**
 * {@code --cuda_graphs}: each micro-batch's forward and backward replayed from one captured device graph (on CUDA
 * that is one launch instead of thousands of kernel launches and the JVM's work between them).
 *
 * <p>A graph replays fixed shapes, so every micro-batch is padded to {@code tokens} tokens ({@link Batch#padTo});
 * its packed sequence count, which sizes the attention kernels' grid, is rounded up to a power of two so that it
 * rarely changes. Per step, the batch is copied into fixed device tensors, the device's dropout step is set (the
 * seed is baked into the graph, the step is read from memory), the graph is launched, and the loss is read after
 * it. The first micro-batch of a shape runs eagerly (on CUDA that fills the allocator's cache with every block the
 * capture needs), the next one is captured and launched. A batch with more sequences than the shape holds makes a
 * new, larger shape: the old graph is dropped first, so that one graph's activations are held at a time. If a
 * capture is refused (an op that cannot be captured), the reason is printed and the run goes on eagerly.
 */
public final class GraphedMicroSteps implements AutoCloseable {
  private final CausalLM model;
  private final Device device;
  private final CausalLM.StepInputs inputs;
  private final int tokens, seqLen;
  private final java.io.PrintWriter console;
  private int sequences;       // of the current shape
  private boolean warmedUp;    // the current shape ran once eagerly
  private DeviceGraph graph;   // of the current shape, once captured
  private long capturedSeed;
  private String disabled;     // why graphs are off for the rest of the run (null: on)
  private long eagerSteps, replays, captures;

  /** Micro-steps of {@code tokens} tokens in packed sequences of at most {@code seqLen}; notes go to console. */
  public GraphedMicroSteps(CausalLM model, int tokens, int seqLen, java.io.PrintWriter console) {
    this.model = model;
    this.device = model.device();
    this.tokens = tokens;
    this.seqLen = seqLen;
    this.console = console;
    this.inputs = model.stepInputs(tokens, seqLen);
  }

  /**
   * The same padded, staged micro-steps, always run eagerly: what a replay must reproduce, for checks that
   * compare the two.
   */
  public static GraphedMicroSteps eager(CausalLM model, int tokens, int seqLen) {
    java.io.PrintWriter quiet = new java.io.PrintWriter(java.io.Writer.nullWriter());
    GraphedMicroSteps s = new GraphedMicroSteps(model, tokens, seqLen, quiet);
    s.disabled = "eager by request";
    return s;
  }

  /**
   * The micro-step of {@code b} (forward, backward, gradients accumulated), with the masks of {@code dropoutStep};
   * returns sum_t weight_t * CE_t / normalizer. {@code seed} must be the same every call (a graph bakes it in).
   */
  public double forwardBackward(Batch b, long seed, long dropoutStep, double normalizer) {
    if (graph != null && seed != capturedSeed)
      throw new IllegalStateException("the graph was captured with seed " + capturedSeed + ", not " + seed
          + ": per-step randomness goes through the dropout step");
    int needed = b.paddedSequences(tokens, seqLen);
    if (needed > sequences) reshape(shapeSequences(needed));
    Batch fixed = b.padTo(tokens, sequences, seqLen, 0);
    inputs.stage(fixed, normalizer);
    Kernels.setDropoutStep(device, dropoutStep);
    if (graph != null) {
      graph.launch();
      replays++;
    } else if (disabled != null) {
      model.forwardBackward(inputs, seed);
      eagerSteps++;
    } else if (!warmedUp) {
      DeviceGraph.warmUp(() -> model.forwardBackward(inputs, seed));
      warmedUp = true;
      eagerSteps++;
    } else {
      captureAndLaunch(seed);
    }
    return model.stagedLoss(inputs, fixed, normalizer);
  }

  private void captureAndLaunch(long seed) {
    try {
      graph = DeviceGraph.capture(device, () -> model.forwardBackward(inputs, seed));
    } catch (JswiftNativeException e) {
      if (e.status() != DeviceGraph.UNSUPPORTED) throw e;
      // Nothing of the refused capture ran: this step runs eagerly, like every one after it.
      disabled = e.getMessage();
      console.printf("cuda_graphs: the step could not be captured (%s); training goes on without graphs%n", disabled);
      model.forwardBackward(inputs, seed);
      eagerSteps++;
      return;
    }
    capturedSeed = seed;
    captures++;
    console.printf("cuda_graphs: captured the micro-step (%d tokens in %d packed sequences of at most %d) on %s%n",
        tokens, sequences, seqLen, device);
    graph.launch();
    replays++;
  }

  /** The sequence count of the shape made for a batch that needs {@code needed}: the next power of two. */
  public static int shapeSequences(int needed) {
    return needed <= 1 ? 1 : Integer.highestOneBit(needed - 1) << 1;
  }

  private void reshape(int newSequences) {
    if (graph != null) graph.close();
    graph = null;
    warmedUp = false;
    sequences = newSequences;
  }

  /** Micro-steps replayed from a graph, run eagerly, and graphs captured so far. */
  public long replays() {
    return replays;
  }

  public long eagerSteps() {
    return eagerSteps;
  }

  public long captures() {
    return captures;
  }

  @Override
  public void close() {
    if (graph != null) graph.close();
    graph = null;
    inputs.close();
  }
}
