package jswift.tensor;

/**
 * A failure reported by the native engine that is not a bad argument: a CUDA error, a device out of memory,
 * a missing device, an internal error. The message is the engine's, naming the op and what went wrong.
 */
public class JswiftNativeException extends RuntimeException {
  private final int status;

  public JswiftNativeException(int status, String message) {
    super(message);
    this.status = status;
  }

  /** The C ABI status code (JSW_ERR_*). */
  public int status() {
    return status;
  }
}
