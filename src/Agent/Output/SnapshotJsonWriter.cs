using System.Text.Json;
using SockWatch.Core;

namespace SockWatch.Agent.Output;

/// <summary>
/// `--format json`: an array with one object per socket, one object per line, streamed (the
/// whole document is never held in memory). Field names are the contract in design.md.
/// </summary>
internal static class SnapshotJsonWriter
{
    private static readonly JsonEncodedText Family = JsonEncodedText.Encode("family");
    private static readonly JsonEncodedText State = JsonEncodedText.Encode("state");
    private static readonly JsonEncodedText Phase = JsonEncodedText.Encode("phase");
    private static readonly JsonEncodedText LocalAddress = JsonEncodedText.Encode("local_address");
    private static readonly JsonEncodedText LocalPort = JsonEncodedText.Encode("local_port");
    private static readonly JsonEncodedText RemoteAddress = JsonEncodedText.Encode("remote_address");
    private static readonly JsonEncodedText RemotePort = JsonEncodedText.Encode("remote_port");
    private static readonly JsonEncodedText RxQueue = JsonEncodedText.Encode("rx_queue");
    private static readonly JsonEncodedText TxQueue = JsonEncodedText.Encode("tx_queue");
    private static readonly JsonEncodedText Uid = JsonEncodedText.Encode("uid");
    private static readonly JsonEncodedText Inode = JsonEncodedText.Encode("inode");
    private static readonly JsonEncodedText Cookie = JsonEncodedText.Encode("cookie");
    private static readonly JsonEncodedText Timer = JsonEncodedText.Encode("timer");
    private static readonly JsonEncodedText TimerExpiresMs = JsonEncodedText.Encode("timer_expires_ms");
    private static readonly JsonEncodedText Retransmits = JsonEncodedText.Encode("retransmits");
    private static readonly JsonEncodedText Interface = JsonEncodedText.Encode("interface");
    private static readonly JsonEncodedText Step = JsonEncodedText.Encode("step");
    private static readonly JsonEncodedText WaitsFor = JsonEncodedText.Encode("waits_for");

    public static void Write(Stream output, SocketTable table)
    {
        var newline = "\n"u8;
        using var writer = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = false, SkipValidation = true });
        output.Write("["u8);
        var records = table.Records;
        for (var i = 0; i < records.Length; i++)
        {
            output.Write(i == 0 ? newline : ",\n"u8);
            writer.Reset(output);
            WriteRecord(writer, in records[i]);
            writer.Flush();
        }

        output.Write(records.Length == 0 ? "]\n"u8 : "\n]\n"u8);
    }

    private static void WriteRecord(Utf8JsonWriter w, in SocketRecord r)
    {
        var entry = Lifecycle.Of(r.State);
        w.WriteStartObject();
        w.WriteString(Family, Formatting.Family(r.Family));
        w.WriteString(State, entry.Name);
        w.WriteString(Phase, Lifecycle.PhaseName(entry.Phase));
        w.WriteString(LocalAddress, r.LocalAddress.Format(r.Family));
        w.WriteNumber(LocalPort, r.LocalPort);
        w.WriteString(RemoteAddress, r.RemoteAddress.Format(r.Family));
        w.WriteNumber(RemotePort, r.RemotePort);
        w.WriteNumber(RxQueue, r.RxQueue);
        w.WriteNumber(TxQueue, r.TxQueue);
        w.WriteNumber(Uid, r.Uid);
        w.WriteNumber(Inode, r.Inode);
        if (r.HasCookie)
        {
            w.WriteNumber(Cookie, r.Cookie);
        }
        else
        {
            w.WriteNull(Cookie);
        }

        w.WriteString(Timer, Formatting.Timer(r.Timer));
        w.WriteNumber(TimerExpiresMs, r.TimerExpiresMs);
        w.WriteNumber(Retransmits, r.Retransmits);
        w.WriteNumber(Interface, r.Interface);
        w.WriteString(Step, entry.Step);
        w.WriteString(WaitsFor, entry.WaitsFor);
        w.WriteEndObject();
    }
}
