using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Osprey.Codecs.Jpeg;
using Osprey.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Osprey.IntegrationTests.OpenMv;

/// <summary>Osprey against the OpenMV emulator through a real pty (socat) and over UDP.</summary>
public class OpenMvSourceTests(ITestOutputHelper output)
{
    private static readonly IReadOnlyList<byte[]> s_jpegs = TestJpegs.Qvga;

    [Fact]
    public async Task Pty_StreamsIntactFrames_ToWebSocketJpegAndMjpegViewers()
    {
        using var pty = new PtyPair();
        using var camera = OpenMvDeviceEmulator.OnSerial(pty.DevicePath, s_jpegs);
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv://{pty.HostPath}");
        using var ws = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
        using var mjpeg = await MjpegClient.ConnectAsync(server.Http("mjpeg/cam"));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var wsIndexes = new List<int>();
        var mjpegIndexes = new List<int>();
        using var decoder = new JpegDecoder();
        var yuyv = new byte[320 * 240 * 2];
        for (var i = 0; i < 15; i++)
        {
            await ws.ReceiveFramesAsync(1, TimeSpan.FromSeconds(20));
            wsIndexes.Add(AssertIntact(ws.LastFrame.ToArray(), decoder, yuyv));
            mjpegIndexes.Add(AssertIntact((await mjpeg.ReadPartAsync(cts.Token)).Jpeg, decoder, yuyv));
        }

        AssertIncreasing(wsIndexes);
        AssertIncreasing(mjpegIndexes);
        using var feed = await GetFeedAsync(server, "cam");
        var openMv = feed.RootElement.GetProperty("openMv");
        Assert.Equal("streaming", openMv.GetProperty("link").GetString());
        Assert.Equal("running", feed.RootElement.GetProperty("state").GetString());
        Assert.Equal("jpeg", feed.RootElement.GetProperty("format").GetString());
        Assert.Equal(OpenMvProtocolMaxPayload, openMv.GetProperty("maxPayload").GetInt32());
        Assert.Contains("firmware 5.0.0", openMv.GetProperty("device").GetString(), StringComparison.Ordinal);

        // The emulator boots with the stream off, as the firmware does: the frames above came because Osprey
        // sent STREAM_CTRL(1).
        Assert.False(camera.StreamEnabledAtBoot);
        Assert.True(camera.StreamEnables >= 1);
        Assert.Equal("enabled", openMv.GetProperty("streamControl").GetString());

        // One READ per frame: the camera fragments a QVGA JPEG (several max payloads) itself.
        Assert.True(s_jpegs.Min(j => j.Length) > OpenMvProtocolMaxPayload, "the test JPEGs should need fragments");
        var (reads, served) = (Interlocked.Read(ref camera.ReadRequests), Interlocked.Read(ref camera.FramesServed));
        Assert.True(reads <= served + 1, $"{reads} READ requests for {served} frames served");
    }

    [Fact]
    public async Task Pty_WithCorruptedPacketsAndDroppedAcks_EveryDeliveredFrameIsOneWholeCapture()
    {
        using var pty = new PtyPair();
        using var camera = OpenMvDeviceEmulator.OnSerial(pty.DevicePath, s_jpegs, seed: 42);
        camera.AckTimeoutMilliseconds = 100;
        camera.Faults.CorruptRate = 0.05;
        camera.Faults.DropAckRate = 0.05;
        camera.Faults.ReorderRate = 0.01;
        camera.Faults.DelayRate = 0.02;
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv://{pty.HostPath}?timeout=300");
        using var ws = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
        using var decoder = new JpegDecoder();
        var yuyv = new byte[320 * 240 * 2];
        var indexes = new List<int>();
        for (var i = 0; i < 40; i++)
        {
            await ws.ReceiveFramesAsync(1, TimeSpan.FromSeconds(30));
            indexes.Add(AssertIntact(ws.LastFrame.ToArray(), decoder, yuyv));
        }

        AssertIncreasing(indexes);
        using var feed = await GetFeedAsync(server, "cam");
        var openMv = feed.RootElement.GetProperty("openMv");
        output.WriteLine(openMv.ToString());
        output.WriteLine($"emulator: corrupted {camera.PacketsCorrupted}, acks dropped {camera.AcksDropped}, retransmits {camera.Retransmits}, resets {camera.ProtocolResets}");
        Assert.True(camera.PacketsCorrupted > 0 && camera.AcksDropped > 0, "the faults happened");
        Assert.True(openMv.GetProperty("retransmitsReceived").GetInt64() > 0, "the host saw the camera's retransmissions");
        Assert.True(openMv.GetProperty("duplicates").GetInt64() > 0, "lost ACKs show as duplicates re-ACKed");
        Assert.True(openMv.GetProperty("headerCrcErrors").GetInt64() + openMv.GetProperty("payloadCrcErrors").GetInt64() > 0, "CRC errors are counted");
    }

    [Fact]
    public async Task Pty_UnpluggedAndPluggedBack_RecoversWithoutRestartingOsprey()
    {
        using var pty = new PtyPair();
        using var camera = OpenMvDeviceEmulator.OnSerial(pty.DevicePath, s_jpegs);
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv://{pty.HostPath}");
        using var ws = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
        await ws.ReceiveFramesAsync(5, TimeSpan.FromSeconds(20));

        pty.Stop();
        await WaitForAsync(server, "cam", feed => feed.GetProperty("openMv").GetProperty("link").GetString() == "lost");
        using (var lost = await GetFeedAsync(server, "cam"))
        {
            Assert.Equal("waiting", lost.RootElement.GetProperty("state").GetString());
            Assert.StartsWith("lost: ", lost.RootElement.GetProperty("stateDetail").GetString(), StringComparison.Ordinal);
        }

        pty.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var decoder = new JpegDecoder();
        var yuyv = new byte[320 * 240 * 2];
        for (var i = 0; i < 5; i++)
        {
            await ws.ReceiveFramesAsync(1, TimeSpan.FromSeconds(30));
            AssertIntact(ws.LastFrame.ToArray(), decoder, yuyv);
        }

        Assert.False(server.HasExited);
        using var feed = await GetFeedAsync(server, "cam");
        Assert.Equal("streaming", feed.RootElement.GetProperty("openMv").GetProperty("link").GetString());
        Assert.True(feed.RootElement.GetProperty("openMv").GetProperty("connects").GetInt64() >= 2);

        // A re-plugged camera powers up with its stream off again: Osprey enabled it on each connection.
        Assert.True(camera.StreamEnables >= 2, $"stream enabled {camera.StreamEnables} times");
    }

    [Fact]
    public async Task Pty_CameraGoesSilent_LinkIsLostThenResumesWhenItAnswersAgain()
    {
        using var pty = new PtyPair();
        using var camera = OpenMvDeviceEmulator.OnSerial(pty.DevicePath, s_jpegs);
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv://{pty.HostPath}?timeout=100");
        using var ws = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
        await ws.ReceiveFramesAsync(3, TimeSpan.FromSeconds(20));

        camera.Faults.Silent = true;
        await WaitForAsync(server, "cam", feed => feed.GetProperty("openMv").GetProperty("link").GetString() == "lost");
        camera.Faults.Silent = false;
        await WaitForAsync(server, "cam", feed => feed.GetProperty("openMv").GetProperty("link").GetString() == "streaming");
        using var decoder = new JpegDecoder();
        var yuyv = new byte[320 * 240 * 2];
        await ws.ReceiveFramesAsync(3, TimeSpan.FromSeconds(20));
        AssertIntact(ws.LastFrame.ToArray(), decoder, yuyv);
        using var feed = await GetFeedAsync(server, "cam");
        Assert.True(feed.RootElement.GetProperty("openMv").GetProperty("timeouts").GetInt64() > 0);
        Assert.True(feed.RootElement.GetProperty("openMv").GetProperty("resyncs").GetInt64() > 0);
    }

    [Fact]
    public async Task Udp_WithAcksOff_StreamsIntactFrames()
    {
        var port = FreeUdpPort();
        using var camera = OpenMvDeviceEmulator.OnUdp(port, s_jpegs);
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv+udp://127.0.0.1:{port}?timeout=300");
        using var ws = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
        using var decoder = new JpegDecoder();
        var yuyv = new byte[320 * 240 * 2];
        for (var i = 0; i < 10; i++)
        {
            await ws.ReceiveFramesAsync(1, TimeSpan.FromSeconds(20));
            AssertIntact(ws.LastFrame.ToArray(), decoder, yuyv);
        }

        using var feed = await GetFeedAsync(server, "cam");
        var openMv = feed.RootElement.GetProperty("openMv");
        // SYNC restores the device's defaults (ACKs on), so GET_CAPS's reply is ACKed; SET_CAPS then turns them off.
        Assert.True(openMv.GetProperty("acksSent").GetInt64() <= 1);
        Assert.Equal(1400, openMv.GetProperty("maxPayload").GetInt32());
    }

    [Fact]
    public async Task WithEventsOn_ALockRefusedWithinTheLockInterval_IsRetried_NotLeftWaitingForAnEventAlreadySent()
    {
        // A camera that captures as soon as a frame was read: its NOTIFY comes before the lock interval is over, so
        // the next LOCK is BUSY. Waiting for another event (none comes: the frame is ready) cost 200 ms a frame.
        using var pty = new PtyPair();
        using var camera = OpenMvDeviceEmulator.OnSerial(pty.DevicePath, [s_jpegs[0]]);
        camera.Fps = 0;
        camera.LockIntervalMilliseconds = 60;
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv://{pty.HostPath}?events=1");
        await WaitForAsync(server, "cam", feed => feed.GetProperty("frames").GetInt64() > 5);
        var (frames0, _, _, time0) = await SampleAsync(server);
        await Task.Delay(TimeSpan.FromSeconds(4));
        var (frames1, _, _, time1) = await SampleAsync(server);
        var fps = (frames1 - frames0) / ((time1 - time0) / (double)Stopwatch.Frequency);

        // The lock interval allows about 16 fps; the 200 ms event wait allowed under 5.
        output.WriteLine(FormattableString.Invariant($"{fps:0.0} fps with a 60 ms lock interval and events on"));
        Assert.True(fps > 9, FormattableString.Invariant($"{fps:0.0} fps"));
        using var feed = await GetFeedAsync(server, "cam");
        Assert.True(feed.RootElement.GetProperty("openMv").GetProperty("events").GetInt64() > 0);
    }

    [Fact]
    public async Task ALostAck_IsAnsweredByTheCamerasRetransmission_WithoutSendingTheRequestAgainOrReSyncing()
    {
        // The firmware keeps a request that arrives while it waits for an ACK in its buffer and answers it after
        // the retransmission is ACKed; sending it again (as Osprey did on a duplicate) drew NAK SEQUENCE.
        using var pty = new PtyPair();
        using var camera = OpenMvDeviceEmulator.OnSerial(pty.DevicePath, s_jpegs, seed: 7);
        camera.AckTimeoutMilliseconds = 100;
        camera.Faults.DropAckRate = 0.05;
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv://{pty.HostPath}");
        using var ws = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
        await ReceiveIntactAsync(ws, 30);

        using var feed = await GetFeedAsync(server, "cam");
        var openMv = feed.RootElement.GetProperty("openMv");
        output.WriteLine($"{openMv}; emulator: acks dropped {camera.AcksDropped}, retransmits {camera.Retransmits}, NAK SEQUENCE {camera.SequenceNaksSent}");
        Assert.True(camera.AcksDropped >= 3, $"only {camera.AcksDropped} ACKs were lost");
        Assert.True(openMv.GetProperty("duplicates").GetInt64() > 0, "the retransmissions were seen as duplicates");
        Assert.Equal(0, Interlocked.Read(ref camera.SequenceNaksSent));
        Assert.Equal(0, openMv.GetProperty("resyncs").GetInt64());
        Assert.Equal(0, Interlocked.Read(ref camera.ProtocolResets));
    }

    [Fact]
    public async Task ADamagedPayload_IsLeftToTheCamerasRetransmission_NotNaked_SoTheCameraNeverResets()
    {
        // A NAK leaves the firmware's failed status set: it sends its three retries at once and resets. The
        // reference host ignores a damaged packet and the retransmission comes after the ACK timeout.
        using var pty = new PtyPair();
        using var camera = OpenMvDeviceEmulator.OnSerial(pty.DevicePath, s_jpegs, seed: 11);
        camera.AckTimeoutMilliseconds = 100;
        camera.Faults.CorruptPayloadRate = 0.05;
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv://{pty.HostPath}");
        using var ws = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
        await ReceiveIntactAsync(ws, 30);

        using var feed = await GetFeedAsync(server, "cam");
        var openMv = feed.RootElement.GetProperty("openMv");
        output.WriteLine($"{openMv}; emulator: corrupted {camera.PacketsCorrupted}, NAKs {camera.NaksReceived}, resets {camera.ProtocolResets}");
        Assert.True(camera.PacketsCorrupted >= 3, $"only {camera.PacketsCorrupted} packets were damaged");
        Assert.True(openMv.GetProperty("payloadCrcErrors").GetInt64() > 0, "the damage was counted");
        Assert.Equal(0, Interlocked.Read(ref camera.NaksReceived));
        Assert.Equal(0, Interlocked.Read(ref camera.ProtocolResets));
        Assert.Equal(0, openMv.GetProperty("resyncs").GetInt64());
    }

    [Fact]
    public async Task EventsSentWithAckReq_AreAcknowledged_SoTheCameraIsNeverLeftBlockedWaiting()
    {
        using var pty = new PtyPair();
        using var camera = OpenMvDeviceEmulator.OnSerial(pty.DevicePath, s_jpegs);
        camera.EventsRequireAck = true;
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv://{pty.HostPath}?events=1");
        await WaitForAsync(server, "cam", feed => feed.GetProperty("frames").GetInt64() > 5);
        var (frames0, _, _, time0) = await SampleAsync(server);
        await Task.Delay(TimeSpan.FromSeconds(3));
        var (frames1, _, _, time1) = await SampleAsync(server);
        var fps = (frames1 - frames0) / ((time1 - time0) / (double)Stopwatch.Frequency);

        output.WriteLine(FormattableString.Invariant($"{fps:0.0} fps; {camera.EventAcksReceived} event ACKs, {camera.ProtocolResets} resets"));
        Assert.True(Interlocked.Read(ref camera.EventAcksReceived) > 20, $"{camera.EventAcksReceived} events ACKed");
        Assert.Equal(0, Interlocked.Read(ref camera.Retransmits));
        Assert.Equal(0, Interlocked.Read(ref camera.ProtocolResets));
        // Blocked until a 4 s timeout per event, the camera gave well under 1 fps; a loaded machine still gives 10+.
        Assert.True(fps > 10, FormattableString.Invariant($"{fps:0.0} fps at a 30 fps camera"));
    }

    [Fact]
    public async Task AFrameReadWholeWhoseUnlockFails_IsStillPublished()
    {
        using var pty = new PtyPair();
        using var camera = OpenMvDeviceEmulator.OnSerial(pty.DevicePath, s_jpegs, seed: 3);
        camera.Faults.UnlockFailRate = 0.5;
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv://{pty.HostPath}");
        using var ws = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
        await ReceiveIntactAsync(ws, 20);

        using var feed = await GetFeedAsync(server, "cam");
        var openMv = feed.RootElement.GetProperty("openMv");
        var failures = Interlocked.Read(ref camera.UnlockFailures);
        var served = Interlocked.Read(ref camera.FramesServed);
        var published = openMv.GetProperty("frames").GetInt64();
        output.WriteLine($"{openMv}; emulator: served {served}, UNLOCK refused {failures}");
        Assert.True(failures >= 5, $"only {failures} UNLOCKs failed");
        // Every frame read to its last byte was published, those whose UNLOCK failed too (one may be in flight).
        Assert.InRange(published, served - 1, served);
        Assert.Equal(0, openMv.GetProperty("badFrames").GetInt64());
    }

    [Fact]
    public async Task ASoftRebootEvent_ReSyncsAtOnce_InsteadOfDrawingNakSequence()
    {
        using var pty = new PtyPair();
        using var camera = OpenMvDeviceEmulator.OnSerial(pty.DevicePath, s_jpegs);
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv://{pty.HostPath}");
        using var ws = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
        await ReceiveIntactAsync(ws, 5);
        var enables = Interlocked.Read(ref camera.StreamEnables);

        camera.SoftReboot();
        await WaitForAsync(server, "cam", feed => feed.GetProperty("openMv").GetProperty("softReboots").GetInt64() == 1);
        await ReceiveIntactAsync(ws, 5);

        using var feed = await GetFeedAsync(server, "cam");
        var openMv = feed.RootElement.GetProperty("openMv");
        output.WriteLine($"{openMv}; emulator: reboots {camera.SoftReboots}, NAK SEQUENCE {camera.SequenceNaksSent}");
        Assert.Equal(1, Interlocked.Read(ref camera.SoftReboots));
        Assert.Equal(0, Interlocked.Read(ref camera.SequenceNaksSent));
        Assert.Equal(1, openMv.GetProperty("resyncs").GetInt64());
        // The rebooted camera's stream was off again; the re-SYNC turned it back on.
        Assert.Equal(enables + 1, Interlocked.Read(ref camera.StreamEnables));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    public async Task AScriptsFrameChannel_IsReadAsTheStreamingFramesGuideDoes_EveryFrameWhole(int events)
    {
        // ../shared/seeds/004: a channel 'frame' holding a bare JPEG, latched until its last byte is read, an
        // event 0x01 when a new one is ready; the host polls (or waits for the event), asks SIZE, READs it all.
        using var pty = new PtyPair();
        using var camera = OpenMvDeviceEmulator.OnSerial(pty.DevicePath, s_jpegs);
        camera.FrameChannel = true;
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv://{pty.HostPath}?channel=frame&events={events}");
        using var ws = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
        var indexes = await ReceiveIntactAsync(ws, 15);
        AssertIncreasing(indexes);

        using var feed = await GetFeedAsync(server, "cam");
        var openMv = feed.RootElement.GetProperty("openMv");
        output.WriteLine(openMv.ToString());
        Assert.Equal("jpeg", feed.RootElement.GetProperty("format").GetString());
        Assert.Equal(320, feed.RootElement.GetProperty("width").GetInt32());
        Assert.Equal("streaming", openMv.GetProperty("link").GetString());
        Assert.Equal(0, Interlocked.Read(ref camera.StreamEnables)); // the stream buffer is not involved
        var (reads, served) = (Interlocked.Read(ref camera.ReadRequests), Interlocked.Read(ref camera.FramesServed));
        Assert.True(reads <= served + 1, $"{reads} READ requests for {served} frames served");
        if (events == 0)
        {
            Assert.True(Interlocked.Read(ref camera.PollRequests) > 0, "without events the channel is polled");
        }
        else
        {
            Assert.True(openMv.GetProperty("events").GetInt64() > 0);
        }
    }

    [Fact]
    public async Task AChannelTheCameraDoesNotHave_IsSaidInTheFeedsState()
    {
        using var pty = new PtyPair();
        using var camera = OpenMvDeviceEmulator.OnSerial(pty.DevicePath, s_jpegs);
        await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=openmv://{pty.HostPath}?channel=frame");
        await WaitForAsync(server, "cam", feed => feed.GetProperty("stateDetail").GetString()?.Contains("has no channel 'frame'", StringComparison.Ordinal) == true);
        using var feed = await GetFeedAsync(server, "cam");
        Assert.Contains("stdin, stdout, stream", feed.RootElement.GetProperty("stateDetail").GetString(), StringComparison.Ordinal);
    }

    private static async Task<List<int>> ReceiveIntactAsync(RawFrameClient ws, int count)
    {
        using var decoder = new JpegDecoder();
        var yuyv = new byte[320 * 240 * 2];
        var indexes = new List<int>();
        for (var i = 0; i < count; i++)
        {
            await ws.ReceiveFramesAsync(1, TimeSpan.FromSeconds(20));
            indexes.Add(AssertIntact(ws.LastFrame.ToArray(), decoder, yuyv));
        }

        return indexes;
    }

    /// <summary>The figures of docs/benchmarks.md (OpenMV section): measurements, not assertions.</summary>
    [Theory]
    [InlineData("pty")]
    [InlineData("udp")]
    public async Task Throughput_AtMaxPayload_Reported(string link)
    {
        var jpeg = s_jpegs.Where(j => j.Length is > 23_000 and < 27_000).DefaultIfEmpty(s_jpegs[0]).First();
        using var pty = link == "pty" ? new PtyPair() : null;
        var port = FreeUdpPort();
        using var camera = link == "pty" ? OpenMvDeviceEmulator.OnSerial(pty!.DevicePath, [jpeg]) : OpenMvDeviceEmulator.OnUdp(port, [jpeg]);
        camera.Fps = 0; // a new capture as soon as the last one was read: the link is the only limit
        camera.LockIntervalMilliseconds = 0;
        var uri = link == "pty" ? $"cam=openmv://{pty!.HostPath}?payload=4082" : $"cam=openmv+udp://127.0.0.1:{port}?payload=4082&ack=0";
        await using var server = await OspreyProcess.StartAsync("stream", "--source", uri);
        await WaitForAsync(server, "cam", feed => feed.GetProperty("frames").GetInt64() > 20);
        var (frames0, requests0, cpu0, time0) = await SampleAsync(server);
        await Task.Delay(TimeSpan.FromSeconds(5));
        var (frames1, requests1, cpu1, time1) = await SampleAsync(server);
        var frames = frames1 - frames0;
        var seconds = (time1 - time0) / (double)Stopwatch.Frequency;
        output.WriteLine(FormattableString.Invariant(
            $"{link}: JPEG {jpeg.Length} B, {frames / seconds:0.0} fps, {(double)(requests1 - requests0) / frames:0.00} round trips per frame, host CPU {(cpu1 - cpu0) * 1000.0 / frames:0.000} ms per frame"));
        Assert.True(frames > 0);
    }

    private const int OpenMvProtocolMaxPayload = 4082;

    private static async Task<(long Frames, long Requests, double CpuSeconds, long Time)> SampleAsync(OspreyProcess server)
    {
        using var feed = await GetFeedAsync(server, "cam");
        var openMv = feed.RootElement.GetProperty("openMv");
        var stat = File.ReadAllText($"/proc/{server.Pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // utime and stime, fields 14 and 15 of stat (11 and 12 after the command), in clock ticks (100 Hz).
        var cpu = (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        return (openMv.GetProperty("frames").GetInt64(), openMv.GetProperty("requests").GetInt64(), cpu, Stopwatch.GetTimestamp());
    }

    /// <summary>The received JPEG is the probe prefix plus one capture the camera sent, byte for byte; returns its index.</summary>
    private static int AssertIntact(byte[] received, JpegDecoder decoder, byte[] yuyv)
    {
        Assert.True(JpegProbe.TryRead(received, out _), "probe prefix");
        var body = received.AsSpan(JpegProbe.PrefixSize);
        var index = -1;
        for (var i = 0; i < s_jpegs.Count; i++)
        {
            if (s_jpegs[i].AsSpan(2).SequenceEqual(body))
            {
                index = i;
                break;
            }
        }

        Assert.True(index >= 0, $"a {received.Length}-byte frame matches no single capture (stitched or damaged)");
        Assert.True(decoder.TryDecodeToYuyv(received, yuyv, out var width, out var height, out var error), error);
        Assert.Equal((320, 240), (width, height));
        return index;
    }

    private static void AssertIncreasing(List<int> indexes)
    {
        // Captures cycle through the list; between two frames a viewer may skip some, but never goes back
        // within one cycle, so consecutive differences (mod the list) are positive.
        for (var i = 1; i < indexes.Count; i++)
        {
            Assert.NotEqual(indexes[i - 1], indexes[i]);
        }
    }

    private static async Task<JsonDocument> GetFeedAsync(OspreyProcess server, string name)
    {
        using var http = new HttpClient();
        return JsonDocument.Parse(await http.GetStringAsync(server.Http($"api/feeds/{name}")));
    }

    private static async Task WaitForAsync(OspreyProcess server, string name, Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using (var feed = await GetFeedAsync(server, name))
            {
                if (condition(feed.RootElement))
                {
                    return;
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"feed {name} never reached the expected state: {feed.RootElement}");
                }
            }

            await Task.Delay(100);
        }
    }

    private static int FreeUdpPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
