package jswift.tensor;

/** The device (or host) could not provide the memory an allocation asked for; the message has the numbers. */
public final class DeviceOutOfMemoryException extends JswiftNativeException {
  public DeviceOutOfMemoryException(String message) {
    super(3, message);
  }
}
