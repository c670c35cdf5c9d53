package jswift.template.jinja;

/**
 * One lexical unit of a template: a run of literal text, a tag delimiter, or a piece of an expression.
 * {@code value} holds the decoded literal for strings and numbers; {@code text} is the source spelling
 * (the operator itself for operators). Lines and columns are 1-based, for error messages.
 */
record Token(Type type, String text, Object value, int line, int column) {
  enum Type {
    DATA, VAR_BEGIN, VAR_END, BLOCK_BEGIN, BLOCK_END, NAME, STRING, INTEGER, FLOAT, OPERATOR, EOF
  }

  boolean isName(String s) {
    return type == Type.NAME && text.equals(s);
  }

  boolean isOp(String s) {
    return type == Type.OPERATOR && text.equals(s);
  }

  /** How an error message names this token. */
  String describe() {
    return switch (type) {
      case DATA -> "template data";
      case VAR_BEGIN -> "'{{'";
      case VAR_END -> "end of print statement";
      case BLOCK_BEGIN -> "'{%'";
      case BLOCK_END -> "end of statement block";
      case EOF -> "end of template";
      case STRING -> "string " + text;
      default -> "'" + text + "'";
    };
  }
}
