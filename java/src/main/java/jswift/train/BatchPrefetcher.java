package jswift.train;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import jswift.model.Batch;

/**
 * Prepares the next optimizer step's micro-batches (reading rows, templating, tokenizing, collating into the host
 * arrays that the forward copies to the device) on one background thread while the current step computes, as a
 * PyTorch DataLoader worker does for transformers' Trainer ({@code --dataloader_num_workers}). Exactly one step is
 * prepared ahead, and each preparation is a task submitted when the previous step was taken: the samples come out
 * of the one {@link SampleStream} in the same order as without a worker, so a run is bit-identical either way, and
 * between tasks the stream (and the template and rows it reads) is idle, which {@link #quiesce()} waits for before
 * the trainer uses the template itself (evaluation). Each step carries the stream's cursor taken right after its
 * batches, which is what a checkpoint after that step must save (the live stream is one step further).
 *
 * <p>An error while preparing (a bad row: "file:line: ...") is thrown by {@link #next()} for the step that needed
 * it, as the same exception; a step that is never taken is never prepared (the last step prefetches nothing), so a
 * run fails on exactly the rows it would fail on without a worker. {@link #close()} lets an in-flight preparation
 * finish (interrupting it could close the dataset's file channels) and ends the thread.
 */
final class BatchPrefetcher implements AutoCloseable {
  static final String THREAD_NAME = "jswift-batch-prefetch";

  /** One optimizer step's micro-batches and the data cursor after them. */
  record Step(List<Batch> micro, DataCursor cursor) {}

  private final SampleStream samples;
  private final int batchSize;
  private final int accumulation;
  private final ExecutorService worker;  // null: prepared on the caller's thread (--dataloader_num_workers 0)
  private long remaining;
  private Future<Step> ahead;

  /**
   * @param steps how many steps {@link #next()} will be asked for (nothing is prepared beyond them)
   * @param background true: prepare on a background thread, one step ahead
   */
  BatchPrefetcher(SampleStream samples, int batchSize, int accumulation, long steps, boolean background) {
    this.samples = samples;
    this.batchSize = batchSize;
    this.accumulation = accumulation;
    this.remaining = steps;
    this.worker = background ? Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, THREAD_NAME);
      t.setDaemon(true);  // never keeps a JVM alive, even if close() were skipped
      return t;
    }) : null;
    if (worker != null && remaining > 0) ahead = worker.submit(this::prepare);
  }

  private Step prepare() {
    List<Batch> micro = new ArrayList<>(accumulation);
    for (int i = 0; i < accumulation; i++) micro.add(samples.nextBatch(batchSize));
    return new Step(micro, samples.cursor());
  }

  /** The next step's batches; starts preparing the one after (if any) before returning. */
  Step next() {
    if (remaining <= 0) throw new IllegalStateException("no step left to prepare");
    Step s;
    if (worker == null) {
      s = prepare();
    } else {
      Future<Step> f = ahead;
      ahead = null;
      s = await(f);
    }
    remaining--;
    if (worker != null && remaining > 0) ahead = worker.submit(this::prepare);
    return s;
  }

  /** Waits until no preparation runs (its result, or error, stays for {@link #next()}). */
  void quiesce() {
    if (ahead == null) return;
    try {
      ahead.get();
    } catch (ExecutionException e) {
      // reported by next(), to the step that needs the batch
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the batch prefetch thread", e);
    }
  }

  private static Step await(Future<Step> f) {
    try {
      return f.get();
    } catch (ExecutionException e) {
      // The preparation's own exception (a bad row's "file:line: ..." message), as the caller's thread would throw it.
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException r) throw r;
      if (cause instanceof Error err) throw err;
      throw new IllegalStateException("preparing the next batch failed: " + cause, cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the next batch", e);
    }
  }

  @Override
  public void close() {
    if (worker == null) return;
    worker.shutdown();
    try {
      // One step's preparation at most is in flight; a generous bound only guards against a stuck read.
      if (!worker.awaitTermination(5, TimeUnit.MINUTES)) worker.shutdownNow();
    } catch (InterruptedException e) {
      worker.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }
}
