/*
 * fleetgraph's bulk backfill, the Java side: rows in, SSTables out, imported into
 * the running node.
 *
 * Reads JSON lines on stdin (written by fleetgraph.storage.cassandra.bulk):
 *   ["table", tid, keyspace, table, create_cql, update_cql, [bind types]]
 *       one CQLSSTableWriter per table id, writing the UPDATE of every column
 *       (binds: [ttl,] timestamp, columns, key), into <out>/<tid>/<keyspace>/<table>
 *   ["stmt", sid, tid, [positions]]
 *       a statement's binds land at these positions of its table's UPDATE; the
 *       columns it does not set are left unset (no cell written, as the driver's
 *       own statement of fewer columns)
 *   ["rows", sid, [[binds...], ...]]
 *   ["close", [tid, ...]]
 *       no more rows for these tables: their writers write out what they hold and
 *       free their buffers (a copy closes a type's tables when it moves on; without
 *       it every table's buffer stays full until the end)
 *   ["end"]
 * Values are JSON strings, numbers, booleans or null (a null is a tombstone, as the
 * driver writes it). On "end" every writer is closed; with --jmx host:port each
 * table's SSTables are imported into the live table (nodetool import, through
 * JMX); a summary goes to the --summary file as JSON.
 */

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.cassandra.io.sstable.CQLSSTableWriter;
import org.apache.cassandra.tools.NodeProbe;

public final class SSTableLoaderMain
{
    private static final ObjectMapper JSON = new ObjectMapper();

    private enum Kind { TEXT, BIGINT, INT, DOUBLE, BOOLEAN }

    private static final class TableWriter
    {
        final String keyspace;
        final String table;
        final Path dir;
        final Kind[] kinds;
        final CQLSSTableWriter writer;
        long rows;
        boolean closed;

        TableWriter(String keyspace, String table, Path dir, Kind[] kinds, CQLSSTableWriter writer)
        {
            this.keyspace = keyspace;
            this.table = table;
            this.dir = dir;
            this.kinds = kinds;
            this.writer = writer;
        }
    }

    private static final class Statement
    {
        final TableWriter table;
        final int[] positions;

        Statement(TableWriter table, int[] positions)
        {
            this.table = table;
            this.positions = positions;
        }
    }

    private static Kind kind(String cqlType)
    {
        switch (cqlType)
        {
            case "text": return Kind.TEXT;
            case "bigint": return Kind.BIGINT;
            case "int": return Kind.INT;
            case "double": return Kind.DOUBLE;
            case "boolean": return Kind.BOOLEAN;
            default: throw new IllegalArgumentException("unsupported CQL type " + cqlType);
        }
    }

    private static final String ROWS = "[\"rows\",";
    private static final JsonFactory TOKENS = new JsonFactory();

    /** A "rows" message, read token by token (no tree of Java objects per row). */
    private static void addRows(String line, Map<Integer, Statement> statements) throws IOException
    {
        try (JsonParser parser = TOKENS.createParser(line))
        {
            expect(parser.nextToken(), JsonToken.START_ARRAY);
            expect(parser.nextToken(), JsonToken.VALUE_STRING);
            expect(parser.nextToken(), JsonToken.VALUE_NUMBER_INT);
            Statement statement = statements.get(parser.getIntValue());
            TableWriter table = statement.table;
            if (table.closed)
                throw new IllegalStateException("rows for " + table.keyspace + "." + table.table + " after its close");
            int[] positions = statement.positions;
            Kind[] kinds = table.kinds;
            expect(parser.nextToken(), JsonToken.START_ARRAY);
            JsonToken token;
            while ((token = parser.nextToken()) == JsonToken.START_ARRAY)
            {
                ByteBuffer[] values = new ByteBuffer[kinds.length];
                Arrays.fill(values, CQLSSTableWriter.UNSET_VALUE);
                int i = 0;
                while ((token = parser.nextToken()) != JsonToken.END_ARRAY)
                {
                    if (i == positions.length)
                        throw new IllegalArgumentException("a row of more values than its statement binds");
                    int at = positions[i++];
                    values[at] = token == JsonToken.VALUE_NULL ? null : encode(kinds[at], parser, token);
                }
                if (i != positions.length)
                    throw new IllegalArgumentException("a row of " + i + " values for a statement of " + positions.length);
                table.writer.rawAddRow(Arrays.asList(values));
                table.rows++;
            }
            expect(token, JsonToken.END_ARRAY);
        }
    }

    private static void expect(JsonToken got, JsonToken wanted)
    {
        if (got != wanted)
            throw new IllegalArgumentException("a rows message: expected " + wanted + ", got " + got);
    }

    private static ByteBuffer encode(Kind kind, JsonParser parser, JsonToken token) throws IOException
    {
        switch (kind)
        {
            case TEXT:
                return ByteBuffer.wrap(parser.getText().getBytes(StandardCharsets.UTF_8));
            case BIGINT:
                return ByteBuffer.allocate(8).putLong(0, parser.getLongValue());
            case INT:
                return ByteBuffer.allocate(4).putInt(0, parser.getIntValue());
            case DOUBLE:
                return ByteBuffer.allocate(8).putDouble(0, parser.getDoubleValue());
            case BOOLEAN:
                if (token != JsonToken.VALUE_TRUE && token != JsonToken.VALUE_FALSE)
                    throw new IllegalArgumentException("a boolean column given " + token);
                return ByteBuffer.wrap(new byte[]{ (byte) (token == JsonToken.VALUE_TRUE ? 1 : 0) });
            default:
                throw new IllegalStateException();
        }
    }

    private static int[] ints(Object list)
    {
        List<?> items = (List<?>) list;
        int[] out = new int[items.size()];
        for (int i = 0; i < out.length; i++)
            out[i] = ((Number) items.get(i)).intValue();
        return out;
    }

    private static long sstables(Path dir) throws IOException
    {
        long count = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*-Data.db"))
        {
            for (Path ignored : files)
                count++;
        }
        return count;
    }

    public static void main(String[] args) throws Exception
    {
        Path out = null;
        Path summary = null;
        String jmx = null;
        int bufferMiB = 64;
        for (int i = 0; i < args.length; i++)
        {
            switch (args[i])
            {
                case "--out": out = Paths.get(args[++i]).toAbsolutePath(); break;
                case "--summary": summary = Paths.get(args[++i]); break;
                case "--jmx": jmx = args[++i]; break;
                case "--buffer-mib": bufferMiB = Integer.parseInt(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (out == null || summary == null)
            throw new IllegalArgumentException("usage: SSTableLoaderMain --out DIR --summary FILE [--jmx HOST:PORT] [--buffer-mib N]");

        long started = System.nanoTime();
        Map<Integer, TableWriter> tables = new LinkedHashMap<>();
        Map<Integer, Statement> statements = new HashMap<>();
        boolean ended = false;
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8), 1 << 20);
        String line;
        while ((line = in.readLine()) != null)
        {
            if (line.startsWith(ROWS))
            {
                addRows(line, statements);
                continue;
            }
            List<?> message = JSON.readValue(line, List.class);
            String what = (String) message.get(0);
            if (what.equals("close"))
            {
                for (int tid : ints(message.get(1)))
                {
                    TableWriter table = tables.get(tid);
                    if (!table.closed)
                    {
                        table.writer.close();
                        table.closed = true;
                    }
                }
            }
            else if (what.equals("stmt"))
            {
                TableWriter table = tables.get(((Number) message.get(2)).intValue());
                statements.put(((Number) message.get(1)).intValue(), new Statement(table, ints(message.get(3))));
            }
            else if (what.equals("table"))
            {
                int tid = ((Number) message.get(1)).intValue();
                String keyspace = (String) message.get(2);
                String name = (String) message.get(3);
                List<?> types = (List<?>) message.get(6);
                Kind[] kinds = new Kind[types.size()];
                for (int i = 0; i < kinds.length; i++)
                    kinds[i] = kind((String) types.get(i));
                // import finds SSTables by their folders: <keyspace>/<table>
                Path dir = out.resolve(Integer.toString(tid)).resolve(keyspace).resolve(name);
                Files.createDirectories(dir);
                CQLSSTableWriter writer = CQLSSTableWriter.builder()
                                                          .inDirectory(dir.toString())
                                                          .forTable((String) message.get(4))
                                                          .using((String) message.get(5))
                                                          .withBufferSizeInMiB(bufferMiB)
                                                          .build();
                tables.put(tid, new TableWriter(keyspace, name, dir, kinds, writer));
            }
            else if (what.equals("end"))
            {
                ended = true;
                break;
            }
            else
            {
                throw new IllegalArgumentException("unknown message " + what);
            }
        }
        if (!ended)
            throw new IOException("the input ended before its \"end\" message: nothing imported");
        for (TableWriter table : tables.values())
            if (!table.closed)
                table.writer.close();
        double writeSeconds = (System.nanoTime() - started) / 1e9;

        List<Map<String, Object>> report = new ArrayList<>();
        long importStarted = System.nanoTime();
        NodeProbe probe = null;
        if (jmx != null)
        {
            String[] hostPort = jmx.split(":");
            probe = new NodeProbe(hostPort[0], Integer.parseInt(hostPort[1]));
        }
        try
        {
            for (TableWriter table : tables.values())
            {
                Map<String, Object> entry = new LinkedHashMap<>();
                entry.put("table", table.keyspace + "." + table.table);
                entry.put("rows", table.rows);
                entry.put("sstables", sstables(table.dir));
                entry.put("dir", table.dir.toString());
                if (probe != null && table.rows > 0)
                {
                    // nodetool import's defaults, but no verification of SSTables we just wrote
                    // and no token check (every token is this node's)
                    List<String> failed = probe.importNewSSTables(
                        table.keyspace, table.table, Set.of(table.dir.toString()),
                        true, true, false, false, true, false, false, false, false);
                    entry.put("failed", failed);
                }
                report.add(entry);
            }
        }
        finally
        {
            if (probe != null)
                probe.close();
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("write_seconds", writeSeconds);
        result.put("import_seconds", (System.nanoTime() - importStarted) / 1e9);
        result.put("imported", probe != null);
        result.put("tables", report);
        JSON.writeValue(summary.toFile(), result);
        System.exit(0);
    }
}
