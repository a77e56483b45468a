using System.Globalization;

namespace SockWatch.Collectors.Ownership;

/// <summary>
/// uid to user name from the password file, reread when the file changes. Users that only
/// exist in NSS sources other than files (LDAP, systemd-homed) show as their uid: SockWatch does
/// not call into NSS, which can block on the network.
/// </summary>
internal sealed class Passwd(string path)
{
    private Dictionary<uint, string> _names = [];
    private DateTime _loadedWriteTime = DateTime.MinValue;

    public string NameOf(uint uid)
    {
        Refresh();
        return _names.TryGetValue(uid, out var name) ? name : uid.ToString(CultureInfo.InvariantCulture);
    }

    private void Refresh()
    {
        DateTime writeTime;
        try
        {
            writeTime = File.GetLastWriteTimeUtc(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }

        if (writeTime == _loadedWriteTime)
        {
            return;
        }

        var names = new Dictionary<uint, string>();
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                // name:password:uid:gid:gecos:home:shell
                var parts = line.Split(':');
                if (parts.Length >= 3 && uint.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var uid))
                {
                    names.TryAdd(uid, parts[0]);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }

        _names = names;
        _loadedWriteTime = writeTime;
    }
}
