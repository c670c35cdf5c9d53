package jswift.data;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A row as a reader found it, before any conversion: its fields, where it starts (for errors) and the byte
 * offset of its first byte (for the random-access index).
 */
record RawRow(ObjectNode fields, Location location, long offset) {}
