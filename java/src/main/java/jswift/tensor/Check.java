package jswift.tensor;

import java.util.Arrays;

/**
 * Argument checks of the {@link Kernels} facade. Each failure is an {@link IllegalArgumentException} naming
 * the op, the argument and what was expected, thrown before any native code runs.
 */
final class Check {
  private Check() {}

  static void alive(String op, String name, Tensor t) {
    if (t == null) throw new IllegalArgumentException(op + ": " + name + " is null");
    if (!t.isAlive()) throw new IllegalArgumentException(op + ": " + name + " was already freed (" + t + ")");
  }

  static void floating(String op, String name, Tensor t) {
    alive(op, name, t);
    if (!t.dtype().isFloatingPoint())
      throw new IllegalArgumentException(op + ": " + name + " must be f32, bf16 or f16, got " + t);
  }

  static void dtype(String op, String name, Tensor t, DType expected) {
    alive(op, name, t);
    if (t.dtype() != expected)
      throw new IllegalArgumentException(op + ": " + name + " must be " + expected.torchName() + ", got " + t);
  }

  static void sameDtype(String op, Tensor reference, String name, Tensor t) {
    alive(op, name, t);
    if (t.dtype() != reference.dtype())
      throw new IllegalArgumentException(op + ": " + name + " must have dtype " + reference.dtype().torchName()
          + " like the input, got " + t);
  }

  static void device(String op, Device device, String name, Tensor t) {
    alive(op, name, t);
    if (!t.device().equals(device))
      throw new IllegalArgumentException(op + ": " + name + " is on " + t.device() + " but the op runs on " + device);
  }

  static void shape(String op, String name, Tensor t, long... expected) {
    alive(op, name, t);
    long[] s = t.shape();
    if (!Arrays.equals(s, expected))
      throw new IllegalArgumentException(
          op + ": " + name + " must have shape " + Arrays.toString(expected) + ", got " + Arrays.toString(s));
  }

  static void numel(String op, String name, Tensor t, long expected) {
    alive(op, name, t);
    if (t.numel() != expected)
      throw new IllegalArgumentException(op + ": " + name + " must have " + expected + " elements, got " + t);
  }

  static void rankAtLeast(String op, String name, Tensor t, int rank) {
    alive(op, name, t);
    if (t.rank() < rank)
      throw new IllegalArgumentException(op + ": " + name + " must have at least " + rank + " dimensions, got " + t);
  }

  static void that(boolean condition, String op, String message) {
    if (!condition) throw new IllegalArgumentException(op + ": " + message);
  }

  /**
   * As {@link #that(boolean, String, String)}, with the message built only on failure: the kernels' checks run on
   * every call (tens of thousands a training step), and building a message that names the tensors took a few
   * percent of a small model's CPU step.
   */
  static void that(boolean condition, String op, java.util.function.Supplier<String> message) {
    if (!condition) throw new IllegalArgumentException(op + ": " + message.get());
  }
}
