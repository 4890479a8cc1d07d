using Osprey.Sources.OpenMv;

namespace Osprey.Tests.Sources.OpenMv;

public class SerialTransportTests
{
    [Fact]
    public void OpeningAMissingDevice_SaysNoSuchDevice_NotBadFileDescriptor()
    {
        var error = Assert.Throws<IOException>(() => SerialTransport.Open("/dev/ttyOSPREY-NOSUCH", 921600));
        Assert.Contains("/dev/ttyOSPREY-NOSUCH", error.Message, StringComparison.Ordinal);
        Assert.Contains("no such device", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("tcgetattr", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OpeningAFileThatIsNoTty_SaysSo()
    {
        var error = Assert.Throws<IOException>(() => SerialTransport.Open("/dev/null", 921600));
        Assert.Contains("is not a serial device", error.Message, StringComparison.Ordinal);
    }
}
