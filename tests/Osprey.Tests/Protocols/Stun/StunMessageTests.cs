using System.Net;
using System.Text;
using Osprey.Protocols.Stun;

namespace Osprey.Tests.Protocols.Stun;

public class StunMessageTests
{
    private const string Password = "VOkJxbRl1RmTxUk/WvJxBt";

    // RFC 5769 §2.1: a Binding request with SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY and FINGERPRINT.
    private static readonly byte[] s_request = Convert.FromHexString(
        "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74" +
        "002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020" +
        "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf");

    // RFC 5769 §2.2: the IPv4 response, mapped address 192.0.2.1:32853.
    private static readonly byte[] s_responseV4 = Convert.FromHexString(
        "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220" +
        "002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7" +
        "80280004c07d4c96");

    // RFC 5769 §2.3: the IPv6 response, mapped address [2001:db8:1234:5678:11:2233:4455:6677]:32853.
    private static readonly byte[] s_responseV6 = Convert.FromHexString(
        "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220" +
        "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9" +
        "00080014a382954e4be67bf11784c97c8292c275bfe3ed41" +
        "80280004c8fb0b4c");

    [Fact]
    public void Rfc5769Request_ParsesWithItsIntegrityAndFingerprint()
    {
        Assert.True(StunMessage.TryParse(s_request, out var view, out var error), error);
        Assert.Equal(StunMessage.BindingRequest, view.Type);
        Assert.Equal("evtj:h6vY", Encoding.UTF8.GetString(view.Username(s_request)));
        Assert.Equal(0x6e0001ffu, view.Priority);
        Assert.True(view.IceControlled);
        Assert.False(view.UseCandidate);
        Assert.True(StunMessage.CheckFingerprint(s_request, view));
        Assert.True(StunMessage.CheckIntegrity(s_request, view, Encoding.UTF8.GetBytes(Password)));
        Assert.False(StunMessage.CheckIntegrity(s_request, view, Encoding.UTF8.GetBytes("wrong password")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rfc5769Responses_CheckAndGiveTheMappedAddress(bool ipv6)
    {
        var response = ipv6 ? s_responseV6 : s_responseV4;
        Assert.True(StunMessage.TryParse(response, out var view, out var error), error);
        Assert.Equal(StunMessage.BindingSuccess, view.Type);
        Assert.True(StunMessage.CheckFingerprint(response, view));
        Assert.True(StunMessage.CheckIntegrity(response, view, Encoding.UTF8.GetBytes(Password)));
        Assert.True(StunMessage.TryReadXorMappedAddress(response, out var mapped));
        Assert.Equal(ipv6 ? IPAddress.Parse("2001:db8:1234:5678:11:2233:4455:6677") : IPAddress.Parse("192.0.2.1"), mapped!.Address);
        Assert.Equal(32853, mapped.Port);
    }

    [Theory]
    [InlineData("192.0.2.1", 32853)]
    [InlineData("2001:db8:1234:5678:11:2233:4455:6677", 32853)]
    [InlineData("127.0.0.1", 1)]
    public void WrittenSuccess_CarriesTheAddressUnderIntegrityAndFingerprint(string address, int port)
    {
        var transaction = s_request.AsSpan(8, 12).ToArray();
        var buffer = new byte[StunMessage.MaxResponseSize];
        var written = StunMessage.WriteBindingSuccess(buffer, transaction, new IPEndPoint(IPAddress.Parse(address), port), Encoding.UTF8.GetBytes(Password));
        var response = buffer.AsSpan(0, written).ToArray();

        Assert.True(StunMessage.TryParse(response, out var view, out var error), error);
        Assert.Equal(StunMessage.BindingSuccess, view.Type);
        Assert.Equal(transaction, StunMessage.TransactionId(response).ToArray());
        Assert.True(StunMessage.CheckFingerprint(response, view));
        Assert.True(StunMessage.CheckIntegrity(response, view, Encoding.UTF8.GetBytes(Password)));
        Assert.True(StunMessage.TryReadXorMappedAddress(response, out var mapped));
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), mapped);
    }

    [Fact]
    public void WrittenRequest_IsReadBack()
    {
        var buffer = new byte[256];
        var transaction = new byte[12];
        Random.Shared.NextBytes(transaction);
        var written = StunMessage.WriteBindingRequest(buffer, transaction, "srv:cli"u8, 12345, 0x1122334455667788, useCandidate: true, "secret"u8);
        var request = buffer.AsSpan(0, written).ToArray();

        Assert.True(StunMessage.TryParse(request, out var view, out _));
        Assert.Equal("srv:cli", Encoding.UTF8.GetString(view.Username(request)));
        Assert.True(view.UseCandidate);
        Assert.True(view.IceControlling);
        Assert.Equal(0x1122334455667788UL, view.TieBreaker);
        Assert.True(StunMessage.CheckIntegrity(request, view, "secret"u8));
        Assert.True(StunMessage.CheckFingerprint(request, view));
    }

    [Fact]
    public void EveryTruncation_IsRefusedWithoutThrowing()
    {
        for (var length = 0; length < s_request.Length; length++)
        {
            Assert.False(StunMessage.TryParse(s_request.AsSpan(0, length), out _, out var error));
            Assert.NotNull(error);
        }
    }

    [Fact]
    public void EveryFlippedBit_FailsIntegrityOrFingerprintOrParsing()
    {
        var key = Encoding.UTF8.GetBytes(Password);
        for (var bit = 0; bit < s_request.Length * 8; bit++)
        {
            var damaged = (byte[])s_request.Clone();
            damaged[bit / 8] ^= (byte)(1 << (bit % 8));
            var accepted = StunMessage.TryParse(damaged, out var view, out _)
                && StunMessage.CheckFingerprint(damaged, view)
                && StunMessage.CheckIntegrity(damaged, view, key);
            Assert.False(accepted, $"bit {bit} flipped was accepted");
        }
    }

    [Fact]
    public void AttributeRunningPastTheEnd_OrOversizedUsername_IsRefused()
    {
        var damaged = (byte[])s_request.Clone();
        damaged[20 + 2] = 0x01; // SOFTWARE's length 0x0110: past the message
        Assert.False(StunMessage.TryParse(damaged, out _, out var error));
        Assert.Contains("runs past", error, StringComparison.Ordinal);

        var big = new byte[20 + 4 + 600];
        big[1] = 1;
        big[2] = (byte)((4 + 600) >> 8);
        big[3] = (byte)((4 + 600) & 0xFF);
        new byte[] { 0x21, 0x12, 0xa4, 0x42 }.CopyTo(big.AsSpan(4));
        big[20] = 0;
        big[21] = 6;
        big[22] = (byte)(600 >> 8);
        big[23] = (byte)(600 & 0xFF);
        Assert.False(StunMessage.TryParse(big, out _, out error));
        Assert.Contains("USERNAME", error, StringComparison.Ordinal);
    }

    [Fact]
    public void RandomBytes_NeverThrow()
    {
        var random = new Random(5769);
        var buffer = new byte[600];
        for (var i = 0; i < 20000; i++)
        {
            var length = random.Next(buffer.Length);
            random.NextBytes(buffer.AsSpan(0, length));
            if (random.Next(2) == 0 && length >= 20)
            {
                // Mostly-valid headers, so the attribute walk is exercised too.
                buffer[0] = 0;
                buffer[1] = 1;
                buffer[2] = (byte)((length - 20) >> 8);
                buffer[3] = (byte)((length - 20) & 0xFC);
                new byte[] { 0x21, 0x12, 0xa4, 0x42 }.CopyTo(buffer.AsSpan(4));
            }

            if (StunMessage.TryParse(buffer.AsSpan(0, length), out var view, out _))
            {
                _ = StunMessage.CheckFingerprint(buffer.AsSpan(0, length), view);
                _ = StunMessage.CheckIntegrity(buffer.AsSpan(0, length), view, "k"u8);
            }
        }
    }
}
