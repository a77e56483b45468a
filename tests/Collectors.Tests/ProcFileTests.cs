using System.Net;
using System.Net.Sockets;
using SockWatch.Collectors.Facts;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

/// <summary>
/// ProcFile: a small procfs file read whole on every poll, its handle kept open when asked.
/// A kept handle must read what an open now would (the file made afresh at offset 0), and stay
/// bound to the namespace it was opened in, whichever thread reads it.
/// </summary>
public sealed class ProcFileTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("sockwatch-procfile-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void A_kept_handle_reads_the_file_again_from_the_start()
    {
        var path = Path.Combine(_dir.FullName, "value");
        File.WriteAllText(path, "30\n");
        using var file = new ProcFile(path, keepOpen: true);

        Assert.Equal("30\n", file.ReadText());
        Assert.True(file.HoldsHandle);

        File.WriteAllText(path, "a longer value than before\n"); // rewritten in place: the same inode
        Assert.Equal("a longer value than before\n", file.ReadText());
        File.WriteAllText(path, "7\n");
        Assert.Equal("7\n", file.ReadText()); // shorter: nothing of the old text is left over
        Assert.True(file.HoldsHandle);
    }

    [Fact]
    public void Without_keepOpen_every_read_opens_the_file_and_closes_it()
    {
        var path = Path.Combine(_dir.FullName, "value");
        File.WriteAllText(path, "one\n");
        using var file = new ProcFile(path, keepOpen: false);

        Assert.Equal("one\n", file.ReadText());
        Assert.False(file.HoldsHandle);

        File.Delete(path);
        File.WriteAllText(path, "two\n"); // a new inode: only a new open sees it
        Assert.Equal("two\n", file.ReadText());
    }

    [Fact]
    public void A_missing_file_reads_as_nothing_and_is_opened_once_it_exists()
    {
        var path = Path.Combine(_dir.FullName, "later");
        using var file = new ProcFile(path, keepOpen: true);

        Assert.Null(file.ReadText());
        Assert.False(file.HoldsHandle);

        File.WriteAllText(path, "here\n");
        Assert.Equal("here\n", file.ReadText());
        Assert.True(file.HoldsHandle);
    }

    [Fact]
    public void A_text_longer_than_the_buffer_is_read_whole_into_a_bigger_one()
    {
        var path = Path.Combine(_dir.FullName, "long");
        var text = string.Concat(Enumerable.Range(0, 5000).Select(i => $"line {i}\n")); // ~44 KB
        File.WriteAllText(path, text);
        using var file = new ProcFile(path, keepOpen: true);

        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1024);
        try
        {
            var length = file.Read(ref buffer);
            Assert.Equal(text.Length, length);
            Assert.Equal(text, System.Text.Encoding.UTF8.GetString(buffer, 0, length));
            Assert.Equal(text.Length, file.Read(ref buffer)); // again, from the start
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    [RootFact]
    public void Kept_procfs_handles_show_their_namespace_now_from_any_thread()
    {
        using var ns = new TestNamespace();
        var (sockstat, finTimeout) = ns.Inside(() =>
        {
            var s = new ProcFile("/proc/thread-self/net/sockstat", keepOpen: true);
            var f = new ProcFile("/proc/sys/net/ipv4/tcp_fin_timeout", keepOpen: true);
            Assert.Contains("TCP: inuse 0 ", s.ReadText(), StringComparison.Ordinal);
            Assert.NotNull(f.ReadText());
            return (s, f);
        });

        using (sockstat)
        using (finTimeout)
        {
            // A listener made inside, then the kept handle read from this thread (the host's
            // namespace): the count is the namespace's, and it is the count of now.
            using var listener = ns.Inside(() =>
            {
                var l = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                l.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                l.Listen();
                return l;
            });
            Assert.Contains("TCP: inuse 1 ", sockstat.ReadText(), StringComparison.Ordinal);

            var host = File.ReadAllText("/proc/sys/net/ipv4/tcp_fin_timeout").Trim();
            var other = host == "37" ? "38" : "37";
            TestNamespace.Ip("netns", "exec", ns.Name, "sh", "-c", $"echo {other} > /proc/sys/net/ipv4/tcp_fin_timeout");
            Assert.Equal(other, finTimeout.ReadText()?.Trim());
            Assert.Equal(host, File.ReadAllText("/proc/sys/net/ipv4/tcp_fin_timeout").Trim());
            Assert.True(sockstat.HoldsHandle && finTimeout.HoldsHandle);
        }
    }
}
