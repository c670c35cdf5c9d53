package jswift.template.jinja;

/**
 * Why a template could not be compiled or rendered. A syntax error names the line, the column and what the
 * parser expected; a runtime error names the template line of the statement that failed. {@link #kind()}
 * tells the failure apart the way Python's jinja2 does ({@code TemplateSyntaxError}, the
 * {@code TemplateError} raised by a template's own {@code raise_exception(msg)}, {@code UndefinedError},
 * {@code SecurityError}, and the Python errors such as {@code TypeError}); {@link #detail()} is the bare
 * message, which for {@code raise_exception} is exactly the template's text.
 */
public final class TemplateException extends RuntimeException {
  /** The family of the failure, named after the jinja2 exception it corresponds to. */
  public enum Kind {
    /** The source does not parse (jinja2 {@code TemplateSyntaxError}, incl. unknown filters and tests). */
    SYNTAX,
    /** The template called {@code raise_exception(message)}. */
    RAISED,
    /** An undefined value was used in a way that needs a value (jinja2 {@code UndefinedError}). */
    UNDEFINED,
    /** The sandbox refused an operation, e.g. {@code list.append} (jinja2 {@code SecurityError}). */
    SECURITY,
    /** Any other evaluation error: a wrong type, a division by zero, a bad filter argument. */
    RUNTIME
  }

  private final Kind kind;
  private final String detail;
  private final int line;
  private final int column;

  public TemplateException(Kind kind, String detail, int line, int column) {
    super(format(kind, detail, line, column));
    this.kind = kind;
    this.detail = detail;
    this.line = line;
    this.column = column;
  }

  /** A runtime error whose line is filled in by the statement that catches it. */
  static TemplateException runtime(String detail) {
    return new TemplateException(Kind.RUNTIME, detail, 0, 0);
  }

  static TemplateException undefined(String detail) {
    return new TemplateException(Kind.UNDEFINED, detail, 0, 0);
  }

  static TemplateException security(String detail) {
    return new TemplateException(Kind.SECURITY, detail, 0, 0);
  }

  /** This error placed at a template line, unless it already knows its line. */
  TemplateException atLine(int atLine) {
    if (line > 0 || atLine <= 0) return this;
    TemplateException placed = new TemplateException(kind, detail, atLine, 0);
    placed.setStackTrace(getStackTrace());
    return placed;
  }

  public Kind kind() {
    return kind;
  }

  /** The message without the location. */
  public String detail() {
    return detail;
  }

  /** 1-based template line, or 0 when unknown. */
  public int line() {
    return line;
  }

  /** 1-based column (syntax errors only), or 0 when unknown. */
  public int column() {
    return column;
  }

  private static String format(Kind kind, String detail, int line, int column) {
    String where = line <= 0 ? "" : column > 0 ? "line " + line + ", column " + column + ": " : "line " + line + ": ";
    return switch (kind) {
      case SYNTAX -> "template syntax error at " + (where.isEmpty() ? "" : where) + detail;
      case RAISED -> "template raised an exception" + (where.isEmpty() ? ": " : " at " + where) + detail;
      default -> "template error" + (where.isEmpty() ? ": " : " at " + where) + detail;
    };
  }
}
