package jswift.tensor;

import jswift.bindings.CoreNative;

/** Turns C ABI status codes into Java exceptions carrying the engine's message. */
final class NativeStatus {
  static final int OK = 0;
  static final int INVALID_ARGUMENT = 1;
  static final int NO_DEVICE = 2;
  static final int OUT_OF_MEMORY = 3;

  private NativeStatus() {}

  static void check(int status) {
    if (status == OK) return;
    String message = CoreNative.jsw_last_error();
    switch (status) {
      case INVALID_ARGUMENT:
        throw new IllegalArgumentException(message);
      case NO_DEVICE:
        throw new IllegalStateException(message);
      case OUT_OF_MEMORY:
        throw new DeviceOutOfMemoryException(message);
      default:
        throw new JswiftNativeException(status, message);
    }
  }
}
