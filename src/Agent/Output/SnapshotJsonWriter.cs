using System.Text.Json;
using SockWatch.Core;

namespace SockWatch.Agent.Output;

/// <summary>
/// `--format json`: an array with one object per socket, one object per line, streamed (the
/// whole document is never held in memory). Field names are a contract: the JSON fields of
/// README.md, "sockwatch snapshot".
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
    private static readonly JsonEncodedText Owner = JsonEncodedText.Encode("owner");
    private static readonly JsonEncodedText Pid = JsonEncodedText.Encode("pid");
    private static readonly JsonEncodedText Process = JsonEncodedText.Encode("process");
    private static readonly JsonEncodedText Unit = JsonEncodedText.Encode("unit");
    private static readonly JsonEncodedText User = JsonEncodedText.Encode("user");
    private static readonly JsonEncodedText Container = JsonEncodedText.Encode("container");
    private static readonly JsonEncodedText Via = JsonEncodedText.Encode("via");
    private static readonly JsonEncodedText Unowned = JsonEncodedText.Encode("unowned");
    private static readonly JsonEncodedText CgroupUnit = JsonEncodedText.Encode("cgroup_unit");
    private static readonly JsonEncodedText NetnsName = JsonEncodedText.Encode("netns");

    public static void Write(Stream output, SnapshotView view)
    {
        var newline = "\n"u8;
        using var writer = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = false, SkipValidation = true });
        output.Write("["u8);
        var records = view.Records.Span;
        for (var i = 0; i < records.Length; i++)
        {
            output.Write(i == 0 ? newline : ",\n"u8);
            writer.Reset(output);
            WriteRecord(writer, in records[i], view, i);
            writer.Flush();
        }

        output.Write(records.Length == 0 ? "]\n"u8 : "\n]\n"u8);
    }

    private static void WriteRecord(Utf8JsonWriter w, in SocketRecord r, SnapshotView view, int index)
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
        w.WriteString(NetnsName, view.Netns[index]);
        if (view.HasOwners)
        {
            WriteOwner(w, view.Owners![index], view.Via![index], view.Reasons![index]);
            w.WriteString(CgroupUnit, view.CgroupUnits![index]);
        }

        w.WriteEndObject();
    }

    private static void WriteOwner(Utf8JsonWriter w, SocketOwner? owner, OwnerVia via, UnownedReason reason)
    {
        if (owner is null)
        {
            w.WriteNull(Owner);
            w.WriteString(Unowned, Formatting.Reason(reason));
            return;
        }

        w.WriteStartObject(Owner);
        w.WriteNumber(Pid, owner.Pid);
        w.WriteString(Process, owner.Process);
        w.WriteString(Unit, owner.Unit);
        w.WriteNumber(Uid, owner.Uid);
        w.WriteString(User, owner.User);
        w.WriteString(Container, owner.Container);
        w.WriteString(Via, via == OwnerVia.Listener ? "listener" : "descriptor");
        w.WriteEndObject();
        w.WriteNull(Unowned);
    }
}
