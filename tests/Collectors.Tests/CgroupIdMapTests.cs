using System.Runtime.InteropServices;
using SockWatch.Collectors.Ownership;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

public partial class CgroupIdMapTests
{
    [Fact]
    public void Maps_directory_inodes_to_paths_and_rewalks_on_a_miss()
    {
        var root = Directory.CreateTempSubdirectory("sockwatch-cgroup2-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "system.slice", "nginx.service"));
            Directory.CreateDirectory(Path.Combine(root, "user.slice", "user-1000.slice", "session-3.scope"));
            var map = new CgroupIdMap(root);
            map.BeginRound();
            Assert.Equal("/system.slice/nginx.service", map.Lookup(Inode(Path.Combine(root, "system.slice", "nginx.service"))));
            Assert.Equal("/user.slice/user-1000.slice/session-3.scope", map.Lookup(Inode(Path.Combine(root, "user.slice", "user-1000.slice", "session-3.scope"))));
            Assert.Equal("/", map.Lookup(Inode(root)));
            Assert.Null(map.Lookup(0));

            // A cgroup made after the walk is found by walking again, once per round.
            Directory.CreateDirectory(Path.Combine(root, "system.slice", "api.service"));
            var late = Inode(Path.Combine(root, "system.slice", "api.service"));
            Assert.Null(map.Lookup(late)); // this round already walked
            map.BeginRound();
            Assert.Equal("/system.slice/api.service", map.Lookup(late));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Finds_the_cgroup2_mount_in_mountinfo()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file,
                "25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n" +
                "35 25 0:29 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n" +
                "36 35 0:30 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate\n" +
                "37 35 0:31 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd\n");
            Assert.Equal("/sys/fs/cgroup/unified", CgroupIdMap.FindCgroup2Mount(file));
            File.WriteAllText(file, "37 35 0:31 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n");
            Assert.Null(CgroupIdMap.FindCgroup2Mount(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [LiveFact]
    public void The_live_cgroup2_root_maps_to_slash()
    {
        var mount = CgroupIdMap.FindCgroup2Mount();
        if (mount is null)
        {
            return; // a v1-only host has no cgroup ids to map; nothing to check
        }

        var map = new CgroupIdMap(mount);
        map.BeginRound();
        Assert.Equal("/", map.Lookup(Inode(mount)));
    }

    private static ulong Inode(string path)
    {
        Assert.Equal(0, Stat(path, out var st));
        return st.Ino;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct StatBuffer
    {
        public ulong Dev;
        public ulong Ino;
        public unsafe fixed byte Rest[240];
    }

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, out StatBuffer buffer);
}
