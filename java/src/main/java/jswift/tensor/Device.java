package jswift.tensor;

import java.util.Locale;
import java.util.Objects;

/**
 * Where a tensor's memory lives: the host ({@link #CPU}) or one CUDA device. The {@link #index()} is the device
 * number the native engine expects: -1 for the CPU, 0.. for CUDA devices.
 */
public final class Device {
  public static final Device CPU = new Device(-1);

  private final int index;

  private Device(int index) {
    this.index = index;
  }

  public static Device cuda(int index) {
    if (index < 0) throw new IllegalArgumentException("CUDA device index must be >= 0, got " + index);
    return new Device(index);
  }

  /**
   * The device a command runs on: {@code spec} parsed (see {@link #parse}) and checked against what this machine
   * and build offer, or without a spec (null) the first CUDA device when there is one, else the CPU. A CUDA device
   * that is not there is refused here, before any work, with what to do about it, rather than by the first
   * allocation's native error.
   */
  public static Device select(String spec) {
    int visible = Kernels.cudaDeviceCount();
    if (spec == null) return visible > 0 ? cuda(0) : CPU;
    Device d = parse(spec);
    if (d.isCuda() && d.index >= visible) {
      String why;
      if (Kernels.buildInfo().contains("CUDA: off"))
        why = "this jswift build has no CUDA kernels (it was built without nvcc on the PATH, or with "
            + "-Djswift.cuda=OFF); rebuild with the CUDA toolkit (mvn -B package) to use a GPU";
      else if (visible == 0)
        why = "no CUDA device is visible (no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides them)";
      else
        why = "only " + visible + " CUDA device" + (visible == 1 ? " is" : "s are") + " visible (cuda:0"
            + (visible > 1 ? " .. cuda:" + (visible - 1) : "") + ")";
      throw new IllegalArgumentException("--device " + spec + ": " + why + "; or run with --device cpu");
    }
    return d;
  }

  /** Parses "cpu", "cuda" (device 0) or "cuda:N". */
  public static Device parse(String spec) {
    String s = spec.trim().toLowerCase(Locale.ROOT);
    if (s.equals("cpu")) return CPU;
    if (s.equals("cuda") || s.equals("gpu")) return cuda(0);
    if (s.startsWith("cuda:")) {
      try {
        return cuda(Integer.parseInt(s.substring(5)));
      } catch (NumberFormatException e) {
        // fall through to the error below
      }
    }
    throw new IllegalArgumentException("unknown device '" + spec + "': use cpu, cuda or cuda:N");
  }

  public int index() {
    return index;
  }

  public boolean isCpu() {
    return index < 0;
  }

  public boolean isCuda() {
    return index >= 0;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Device && ((Device) o).index == index;
  }

  @Override
  public int hashCode() {
    return Objects.hash(index);
  }

  @Override
  public String toString() {
    return isCpu() ? "cpu" : "cuda:" + index;
  }
}
