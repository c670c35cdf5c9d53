package jswift.serve;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.atomic.AtomicInteger;
import jswift.infer.ChatCompletion;

/**
 * The one thread that runs the model, and the queue of requests waiting for it. Each turn takes the oldest
 * request and every other waiting one that asks for the same model name (the same adapter), up to
 * {@code maxBatchSize} answers in all, and generates them as one batch, so concurrent clients share each decode
 * step (a step reads every weight once, whatever the batch). Requests that arrive while a batch runs wait for the
 * next turn. More than {@code maxWaiting} waiting requests are refused. An embedding request runs alone in its turn
 * ({@link Job#exclusive}).
 */
final class ModelWorker implements AutoCloseable {
  /** A request for the model, and what to do at each stage; every callback runs on the model thread. */
  interface Job {
    ChatRequest request();

    /** Its request is checked and encoded: returns who hears its answers as they grow (null: no one). */
    ChatCompletion.Listener started(ServedModel.Prepared prepared);

    void finished(ServedModel.Prepared prepared, ChatCompletion.Result result);

    /** It failed: an {@link ApiException} for a bad request, anything else for a failure of the model. */
    void failed(RuntimeException e);

    /**
     * Work that uses the model alone, outside a generation batch (an embedding request; its {@link #request} is
     * null), or null for a chat job. It runs on the model thread; what it throws goes to {@link #failed}.
     */
    default Runnable exclusive() {
      return null;
    }
  }

  private final ServedModel model;
  private final int maxBatchSize;
  private final int maxWaiting;
  private final LinkedBlockingDeque<Job> queue = new LinkedBlockingDeque<>();
  private final AtomicInteger pending = new AtomicInteger();
  private final Thread thread;
  private volatile boolean closed;

  ModelWorker(ServedModel model, int maxBatchSize, int maxWaiting) {
    if (maxBatchSize < 1) throw new IllegalArgumentException("max batch size must be >= 1, got " + maxBatchSize);
    this.model = model;
    this.maxBatchSize = maxBatchSize;
    this.maxWaiting = maxWaiting;
    this.thread = new Thread(this::loop, "jswift-model");
    thread.setDaemon(true);
    thread.start();
  }

  /** Queues a job; a 503 when {@code maxWaiting} are waiting already or the worker is closed. */
  void submit(Job job) {
    if (closed) throw new ApiException(503, "server_busy", null, "the server is shutting down");
    if (pending.incrementAndGet() > maxWaiting) {
      pending.decrementAndGet();
      throw new ApiException(503, "server_busy", null, "the server is busy: " + maxWaiting
          + " requests are waiting for the model; retry later");
    }
    queue.add(job);
  }

  /** Requests queued or being generated. */
  int pending() {
    return pending.get();
  }

  /**
   * Stops: waiting requests get a 503, the batch being generated stops at its next token (its requests get a 503
   * too), and this returns once the model thread has let go of the model, so the caller may free it.
   */
  @Override
  public void close() {
    closed = true;
    thread.interrupt();
    for (Job j; (j = queue.poll()) != null; ) {
      pending.decrementAndGet();
      j.failed(shuttingDown());
    }
    try {
      thread.join(60_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static ApiException shuttingDown() {
    return new ApiException(503, "server_busy", null, "the server is shutting down");
  }

  private void loop() {
    while (!closed) {
      List<Job> batch;
      try {
        batch = nextBatch();
      } catch (InterruptedException e) {
        return;
      }
      try {
        run(batch);
      } finally {
        pending.addAndGet(-batch.size());
      }
    }
  }

  /** The oldest job and the waiting ones that ask for the same model, up to maxBatchSize answers. */
  private List<Job> nextBatch() throws InterruptedException {
    List<Job> batch = new ArrayList<>();
    Job first = queue.take();
    batch.add(first);
    if (first.exclusive() != null) return batch;
    String name = model.nameOf(first.request());
    int answers = first.request().n();
    for (Iterator<Job> it = queue.iterator(); it.hasNext() && answers < maxBatchSize; ) {
      Job j = it.next();
      if (j.exclusive() != null) continue;
      if (!model.nameOf(j.request()).equals(name) || answers + j.request().n() > maxBatchSize) continue;
      it.remove();
      batch.add(j);
      answers += j.request().n();
    }
    return batch;
  }

  private void run(List<Job> jobs) {
    if (jobs.get(0).exclusive() != null) {
      try {
        jobs.get(0).exclusive().run();
      } catch (RuntimeException e) {
        jobs.get(0).failed(e);
      }
      return;
    }
    List<Job> running = new ArrayList<>();
    List<ServedModel.Prepared> prepared = new ArrayList<>();
    List<ChatCompletion.Listener> listeners = new ArrayList<>();
    for (Job j : jobs) {
      try {
        ServedModel.Prepared p = model.prepare(j.request());
        listeners.add(j.started(p));
        prepared.add(p);
        running.add(j);
      } catch (RuntimeException e) {
        j.failed(e);
      }
    }
    if (running.isEmpty()) return;
    List<ChatCompletion.Listener> stoppable = new ArrayList<>();
    for (ChatCompletion.Listener l : listeners) stoppable.add(new StopOnClose(l));
    List<ChatCompletion.Result> results;
    try {
      results = model.run(prepared, stoppable);
    } catch (RuntimeException e) {
      for (Job j : running) j.failed(e);
      return;
    }
    if (closed) {
      for (Job j : running) j.failed(shuttingDown());
      return;
    }
    for (int i = 0; i < running.size(); i++) {
      try {
        running.get(i).finished(prepared.get(i), results.get(i));
      } catch (RuntimeException e) {
        running.get(i).failed(e);
      }
    }
  }

  /** A job's listener (or none) whose answers also stop when the worker closes. */
  private final class StopOnClose implements ChatCompletion.Listener {
    private final ChatCompletion.Listener inner;

    StopOnClose(ChatCompletion.Listener inner) {
      this.inner = inner;
    }

    @Override
    public void onText(int choice, String delta) {
      if (inner != null) inner.onText(choice, delta);
    }

    @Override
    public void onLogits(int choice, float[] logits) {
      if (inner != null) inner.onLogits(choice, logits);
    }

    @Override
    public void onToken(int choice, int tokenId) {
      if (inner != null) inner.onToken(choice, tokenId);
    }

    @Override
    public boolean cancelled() {
      return closed || (inner != null && inner.cancelled());
    }

    @Override
    public boolean wantsText() {
      return inner != null && inner.wantsText();
    }
  }
}
