package jswift.data;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;

/**
 * A {@code .json} file holding one top-level array of row objects, read element by element with Jackson's
 * streaming parser, so the array is never held in memory whole.
 *
 * <p>An element that is not an object is skippable. A syntax error is not: the parser cannot find where the
 * next element starts, so the file ends there (convert such a file to JSON Lines to skip bad rows in it).
 */
final class JsonArrayReader implements RowCursor {
  private final JsonParser parser;
  private final String file;
  private boolean done;

  JsonArrayReader(InputStream in, String file) throws IOException {
    this.parser = Json.MAPPER.getFactory().createParser(in);
    this.file = file;
    JsonToken first = nextToken();
    if (first == null) {
      done = true;
      return;
    }
    if (first != JsonToken.START_ARRAY)
      throw new DatasetException(here(), "a .json dataset must be one top-level array of row objects (or JSON Lines, "
          + "one object per line); found " + describe(first), false, null);
  }

  @Override
  public RawRow next() throws IOException {
    if (done) return null;
    JsonToken token = nextToken();
    if (token == JsonToken.END_ARRAY) {
      done = true;
      if (nextToken() != null)
        throw new DatasetException(here(), "unexpected content after the top-level array", false, null);
      return null;
    }
    if (token == null) {
      done = true;
      throw new DatasetException(here(), "the file ends inside the top-level array (missing ']')", false, null);
    }
    JsonLocation start = parser.currentTokenLocation();
    Location where = new Location(file, start.getLineNr());
    if (token != JsonToken.START_OBJECT) {
      parser.skipChildren();
      throw new DatasetException(where, "a row must be a JSON object, found " + describe(token));
    }
    JsonNode node = readValue(where);
    return new RawRow((ObjectNode) node, where, start.getByteOffset());
  }

  /** Reads the one row object that starts at the stream's first byte (random access by offset). */
  static ObjectNode readOne(InputStream in, Location where) throws IOException {
    try (JsonParser p = Json.MAPPER.getFactory().createParser(in)) {
      JsonNode node = Json.MAPPER.readTree(p);
      if (!(node instanceof ObjectNode))
        throw new DatasetException(where, "a row must be a JSON object, found " + Json.typeName(node));
      return (ObjectNode) node;
    } catch (JsonProcessingException e) {
      throw new DatasetException(where, "invalid JSON: " + e.getOriginalMessage());
    }
  }

  @Override
  public void close() throws IOException {
    parser.close();
  }

  private JsonNode readValue(Location where) throws IOException {
    try {
      return Json.MAPPER.readTree(parser);
    } catch (JsonProcessingException e) {
      done = true;
      throw syntax(e);
    }
  }

  private JsonToken nextToken() throws IOException {
    try {
      return parser.nextToken();
    } catch (JsonProcessingException e) {
      done = true;
      throw syntax(e);
    }
  }

  private DatasetException syntax(JsonProcessingException e) {
    JsonLocation at = e.getLocation();
    long line = at == null ? parser.currentLocation().getLineNr() : at.getLineNr();
    long column = at == null ? parser.currentLocation().getColumnNr() : at.getColumnNr();
    return new DatasetException(new Location(file, line), "invalid JSON at column " + column + ": "
        + e.getOriginalMessage() + " (the rest of this .json file cannot be read)", false, e);
  }

  private Location here() {
    return new Location(file, Math.max(1, parser.currentTokenLocation().getLineNr()));
  }

  private static String describe(JsonToken token) {
    switch (token) {
      case START_ARRAY: return "an array";
      case START_OBJECT: return "an object";
      case VALUE_STRING: return "a string";
      case VALUE_NUMBER_INT:
      case VALUE_NUMBER_FLOAT: return "a number";
      case VALUE_TRUE:
      case VALUE_FALSE: return "a boolean";
      case VALUE_NULL: return "null";
      default: return token.toString();
    }
  }
}
