package jswift.serve;

/**
 * A request the server refuses, with the HTTP status and the OpenAI error type it is answered with
 * ({@code {"error": {"message", "type", "param", "code"}}}); {@code param} names the request field at fault.
 */
public final class ApiException extends RuntimeException {
  private final int status;
  private final String type;
  private final String param;

  public ApiException(int status, String type, String param, String message) {
    super(message);
    this.status = status;
    this.type = type;
    this.param = param;
  }

  /** 400 invalid_request_error: a malformed or unsatisfiable request. */
  public static ApiException badRequest(String param, String message) {
    return new ApiException(400, "invalid_request_error", param, message);
  }

  public int status() {
    return status;
  }

  public String type() {
    return type;
  }

  /** The request field at fault, or null. */
  public String param() {
    return param;
  }
}
