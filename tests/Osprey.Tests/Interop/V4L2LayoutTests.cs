using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Xunit.Abstractions;
using static Osprey.Interop.V4L2;

namespace Osprey.Tests.Interop;

/// <summary>
/// Compiles a C program against the kernel's linux/videodev2.h (Debian's linux-libc-dev, gcc; test.sh installs
/// both) and checks every struct size, field offset, request number and constant Osprey's V4L2 interop uses.
/// </summary>
[Trait("Needs", "Gcc")]
public sealed class V4L2LayoutTests(ITestOutputHelper output)
{
    /// <summary>One fact: its name, the C expression the kernel's headers give, and what Osprey's C# says.</summary>
    private sealed record Fact(string Name, string C, ulong CSharp);

    private static Fact Size<T>(string cType)
        where T : unmanaged
    {
        var marshal = (ulong)Marshal.SizeOf<T>();
        var unsafeSize = (ulong)Unsafe.SizeOf<T>();
        // The two agree for blittable structs; if they ever did not, the marshalled size would be a lie.
        Assert.Equal(marshal, unsafeSize);
        return new Fact($"sizeof({cType})", $"sizeof(struct {cType})", marshal);
    }

    private static Fact Offset<T>(string cType, string cField, string csField)
        where T : unmanaged =>
        new($"offsetof({cType}, {cField})", $"offsetof(struct {cType}, {cField})", (ulong)Marshal.OffsetOf<T>(csField));

    private static Fact Nested<TOuter, TInner>(string cType, string cPath, string csOuter, string csInner)
        where TOuter : unmanaged
        where TInner : unmanaged =>
        new($"offsetof({cType}, {cPath})", $"offsetof(struct {cType}, {cPath})", (ulong)(Marshal.OffsetOf<TOuter>(csOuter) + Marshal.OffsetOf<TInner>(csInner)));

    private static Fact Constant(string name, ulong value) => new(name, name, value);

    private static IEnumerable<Fact> Facts()
    {
        yield return Size<v4l2_capability>("v4l2_capability");
        foreach (var field in new[] { "driver", "card", "bus_info", "version", "capabilities", "device_caps", "reserved" })
        {
            yield return Offset<v4l2_capability>("v4l2_capability", field, field);
        }

        yield return Size<v4l2_fract>("v4l2_fract");
        yield return Size<v4l2_fmtdesc>("v4l2_fmtdesc");
        foreach (var field in new[] { "index", "type", "flags", "description", "pixelformat", "mbus_code", "reserved" })
        {
            yield return Offset<v4l2_fmtdesc>("v4l2_fmtdesc", field, field);
        }

        yield return Size<v4l2_frmsizeenum>("v4l2_frmsizeenum");
        yield return Offset<v4l2_frmsizeenum>("v4l2_frmsizeenum", "index", "index");
        yield return Offset<v4l2_frmsizeenum>("v4l2_frmsizeenum", "pixel_format", "pixel_format");
        yield return Offset<v4l2_frmsizeenum>("v4l2_frmsizeenum", "type", "type");
        yield return Offset<v4l2_frmsizeenum>("v4l2_frmsizeenum", "discrete", "size");
        yield return Offset<v4l2_frmsizeenum>("v4l2_frmsizeenum", "stepwise", "size");
        yield return Offset<v4l2_frmsizeenum>("v4l2_frmsizeenum", "reserved", "reserved");
        yield return new("offsetof(v4l2_frmsizeenum, stepwise.step_height)", "offsetof(struct v4l2_frmsizeenum, stepwise.step_height)", (ulong)Marshal.OffsetOf<v4l2_frmsizeenum>("size") + (5 * 4));

        yield return Size<v4l2_frmivalenum>("v4l2_frmivalenum");
        foreach (var field in new[] { "index", "pixel_format", "width", "height", "type", "reserved" })
        {
            yield return Offset<v4l2_frmivalenum>("v4l2_frmivalenum", field, field);
        }

        yield return Offset<v4l2_frmivalenum>("v4l2_frmivalenum", "discrete", "discrete_or_min");
        yield return Offset<v4l2_frmivalenum>("v4l2_frmivalenum", "stepwise.min", "discrete_or_min");
        yield return Offset<v4l2_frmivalenum>("v4l2_frmivalenum", "stepwise.max", "max");
        yield return Offset<v4l2_frmivalenum>("v4l2_frmivalenum", "stepwise.step", "step");

        yield return Size<v4l2_pix_format>("v4l2_pix_format");
        foreach (var field in new[] { "width", "height", "pixelformat", "field", "bytesperline", "sizeimage", "colorspace", "priv", "flags", "ycbcr_enc", "quantization", "xfer_func" })
        {
            yield return Offset<v4l2_pix_format>("v4l2_pix_format", field, field);
        }

        yield return Size<v4l2_format>("v4l2_format");
        yield return Offset<v4l2_format>("v4l2_format", "type", "type");
        yield return Offset<v4l2_format>("v4l2_format", "fmt.pix", "pix");
        yield return Offset<v4l2_format>("v4l2_format", "fmt.raw_data", "raw_data");

        yield return Size<v4l2_captureparm>("v4l2_captureparm");
        foreach (var field in new[] { "capability", "capturemode", "timeperframe", "extendedmode", "readbuffers", "reserved" })
        {
            yield return Offset<v4l2_captureparm>("v4l2_captureparm", field, field);
        }

        yield return Size<v4l2_streamparm>("v4l2_streamparm");
        yield return Offset<v4l2_streamparm>("v4l2_streamparm", "type", "type");
        yield return Offset<v4l2_streamparm>("v4l2_streamparm", "parm.capture", "capture");
        yield return Offset<v4l2_streamparm>("v4l2_streamparm", "parm.raw_data", "raw_data");

        yield return Size<v4l2_requestbuffers>("v4l2_requestbuffers");
        foreach (var field in new[] { "count", "type", "memory", "capabilities", "flags", "reserved" })
        {
            yield return Offset<v4l2_requestbuffers>("v4l2_requestbuffers", field, field);
        }

        yield return Size<v4l2_timecode>("v4l2_timecode");
        yield return new("sizeof(timeval)", "sizeof(struct timeval)", (ulong)Marshal.SizeOf<timeval>());
        yield return new("offsetof(timeval, tv_usec)", "offsetof(struct timeval, tv_usec)", (ulong)Marshal.OffsetOf<timeval>("tv_usec"));
        yield return Size<v4l2_buffer>("v4l2_buffer");
        foreach (var field in new[] { "index", "type", "bytesused", "flags", "field", "timestamp", "timecode", "sequence", "memory", "m", "length", "reserved2", "request_fd" })
        {
            yield return Offset<v4l2_buffer>("v4l2_buffer", field, field);
        }

        yield return new("sizeof(v4l2_buffer.m)", "sizeof(((struct v4l2_buffer *)0)->m)", (ulong)Marshal.SizeOf<v4l2_buffer_m>());

        yield return Size<v4l2_queryctrl>("v4l2_queryctrl");
        foreach (var field in new[] { "id", "type", "name", "minimum", "maximum", "step", "default_value", "flags", "reserved" })
        {
            yield return Offset<v4l2_queryctrl>("v4l2_queryctrl", field, field);
        }

        yield return Size<v4l2_query_ext_ctrl>("v4l2_query_ext_ctrl");
        foreach (var field in new[] { "id", "type", "name", "minimum", "maximum", "step", "default_value", "flags", "elem_size", "elems", "nr_of_dims", "dims", "reserved" })
        {
            yield return Offset<v4l2_query_ext_ctrl>("v4l2_query_ext_ctrl", field, field);
        }

        yield return Size<v4l2_control>("v4l2_control");
        yield return Offset<v4l2_control>("v4l2_control", "value", "value");

        yield return new("sizeof(pollfd)", "sizeof(struct pollfd)", (ulong)Marshal.SizeOf<Osprey.Interop.Libc.pollfd>());
        yield return new("offsetof(pollfd, revents)", "offsetof(struct pollfd, revents)", (ulong)Marshal.OffsetOf<Osprey.Interop.Libc.pollfd>("revents"));

        // The sizes the request constants are computed from.
        yield return new("SizeOfCapability", "sizeof(struct v4l2_capability)", SizeOfCapability);
        yield return new("SizeOfFmtdesc", "sizeof(struct v4l2_fmtdesc)", SizeOfFmtdesc);
        yield return new("SizeOfFormat", "sizeof(struct v4l2_format)", SizeOfFormat);
        yield return new("SizeOfRequestbuffers", "sizeof(struct v4l2_requestbuffers)", SizeOfRequestbuffers);
        yield return new("SizeOfBuffer", "sizeof(struct v4l2_buffer)", SizeOfBuffer);
        yield return new("SizeOfStreamparm", "sizeof(struct v4l2_streamparm)", SizeOfStreamparm);
        yield return new("SizeOfControl", "sizeof(struct v4l2_control)", SizeOfControl);
        yield return new("SizeOfQueryctrl", "sizeof(struct v4l2_queryctrl)", SizeOfQueryctrl);
        yield return new("SizeOfFrmsizeenum", "sizeof(struct v4l2_frmsizeenum)", SizeOfFrmsizeenum);
        yield return new("SizeOfFrmivalenum", "sizeof(struct v4l2_frmivalenum)", SizeOfFrmivalenum);
        yield return new("SizeOfQueryExtCtrl", "sizeof(struct v4l2_query_ext_ctrl)", SizeOfQueryExtCtrl);

        yield return Constant(nameof(VIDIOC_QUERYCAP), VIDIOC_QUERYCAP);
        yield return Constant(nameof(VIDIOC_ENUM_FMT), VIDIOC_ENUM_FMT);
        yield return Constant(nameof(VIDIOC_G_FMT), VIDIOC_G_FMT);
        yield return Constant(nameof(VIDIOC_S_FMT), VIDIOC_S_FMT);
        yield return Constant(nameof(VIDIOC_REQBUFS), VIDIOC_REQBUFS);
        yield return Constant(nameof(VIDIOC_QUERYBUF), VIDIOC_QUERYBUF);
        yield return Constant(nameof(VIDIOC_QBUF), VIDIOC_QBUF);
        yield return Constant(nameof(VIDIOC_DQBUF), VIDIOC_DQBUF);
        yield return Constant(nameof(VIDIOC_STREAMON), VIDIOC_STREAMON);
        yield return Constant(nameof(VIDIOC_STREAMOFF), VIDIOC_STREAMOFF);
        yield return Constant(nameof(VIDIOC_G_PARM), VIDIOC_G_PARM);
        yield return Constant(nameof(VIDIOC_S_PARM), VIDIOC_S_PARM);
        yield return Constant(nameof(VIDIOC_G_CTRL), VIDIOC_G_CTRL);
        yield return Constant(nameof(VIDIOC_S_CTRL), VIDIOC_S_CTRL);
        yield return Constant(nameof(VIDIOC_QUERYCTRL), VIDIOC_QUERYCTRL);
        yield return Constant(nameof(VIDIOC_ENUM_FRAMESIZES), VIDIOC_ENUM_FRAMESIZES);
        yield return Constant(nameof(VIDIOC_ENUM_FRAMEINTERVALS), VIDIOC_ENUM_FRAMEINTERVALS);
        yield return Constant(nameof(VIDIOC_QUERY_EXT_CTRL), VIDIOC_QUERY_EXT_CTRL);

        yield return Constant(nameof(V4L2_BUF_TYPE_VIDEO_CAPTURE), V4L2_BUF_TYPE_VIDEO_CAPTURE);
        yield return Constant(nameof(V4L2_MEMORY_MMAP), V4L2_MEMORY_MMAP);
        yield return Constant(nameof(V4L2_FIELD_ANY), V4L2_FIELD_ANY);
        yield return Constant(nameof(V4L2_FIELD_NONE), V4L2_FIELD_NONE);
        yield return Constant(nameof(V4L2_CAP_VIDEO_CAPTURE), V4L2_CAP_VIDEO_CAPTURE);
        yield return Constant(nameof(V4L2_CAP_VIDEO_CAPTURE_MPLANE), V4L2_CAP_VIDEO_CAPTURE_MPLANE);
        yield return Constant(nameof(V4L2_CAP_META_CAPTURE), V4L2_CAP_META_CAPTURE);
        yield return Constant(nameof(V4L2_CAP_STREAMING), V4L2_CAP_STREAMING);
        yield return Constant(nameof(V4L2_CAP_DEVICE_CAPS), V4L2_CAP_DEVICE_CAPS);
        yield return Constant(nameof(V4L2_PIX_FMT_YUYV), V4L2_PIX_FMT_YUYV);
        yield return Constant(nameof(V4L2_PIX_FMT_NV12), V4L2_PIX_FMT_NV12);
        yield return Constant(nameof(V4L2_PIX_FMT_MJPEG), V4L2_PIX_FMT_MJPEG);
        yield return Constant(nameof(V4L2_PIX_FMT_JPEG), V4L2_PIX_FMT_JPEG);
        yield return Constant(nameof(V4L2_PIX_FMT_H264), V4L2_PIX_FMT_H264);
        yield return Constant(nameof(V4L2_FRMSIZE_TYPE_DISCRETE), V4L2_FRMSIZE_TYPE_DISCRETE);
        yield return Constant(nameof(V4L2_FRMSIZE_TYPE_CONTINUOUS), V4L2_FRMSIZE_TYPE_CONTINUOUS);
        yield return Constant(nameof(V4L2_FRMSIZE_TYPE_STEPWISE), V4L2_FRMSIZE_TYPE_STEPWISE);
        yield return Constant(nameof(V4L2_FRMIVAL_TYPE_DISCRETE), V4L2_FRMIVAL_TYPE_DISCRETE);
        yield return Constant(nameof(V4L2_FRMIVAL_TYPE_CONTINUOUS), V4L2_FRMIVAL_TYPE_CONTINUOUS);
        yield return Constant(nameof(V4L2_FRMIVAL_TYPE_STEPWISE), V4L2_FRMIVAL_TYPE_STEPWISE);
        yield return Constant(nameof(V4L2_CAP_TIMEPERFRAME), V4L2_CAP_TIMEPERFRAME);
        yield return Constant(nameof(V4L2_BUF_FLAG_MAPPED), V4L2_BUF_FLAG_MAPPED);
        yield return Constant(nameof(V4L2_BUF_FLAG_QUEUED), V4L2_BUF_FLAG_QUEUED);
        yield return Constant(nameof(V4L2_BUF_FLAG_DONE), V4L2_BUF_FLAG_DONE);
        yield return Constant(nameof(V4L2_BUF_FLAG_KEYFRAME), V4L2_BUF_FLAG_KEYFRAME);
        yield return Constant(nameof(V4L2_BUF_FLAG_ERROR), V4L2_BUF_FLAG_ERROR);
        yield return Constant(nameof(V4L2_BUF_FLAG_TIMESTAMP_MASK), V4L2_BUF_FLAG_TIMESTAMP_MASK);
        yield return Constant(nameof(V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC), V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC);
        yield return Constant(nameof(V4L2_CTRL_TYPE_INTEGER), V4L2_CTRL_TYPE_INTEGER);
        yield return Constant(nameof(V4L2_CTRL_TYPE_BOOLEAN), V4L2_CTRL_TYPE_BOOLEAN);
        yield return Constant(nameof(V4L2_CTRL_TYPE_MENU), V4L2_CTRL_TYPE_MENU);
        yield return Constant(nameof(V4L2_CTRL_TYPE_BUTTON), V4L2_CTRL_TYPE_BUTTON);
        yield return Constant(nameof(V4L2_CTRL_TYPE_INTEGER64), V4L2_CTRL_TYPE_INTEGER64);
        yield return Constant(nameof(V4L2_CTRL_TYPE_CTRL_CLASS), V4L2_CTRL_TYPE_CTRL_CLASS);
        yield return Constant(nameof(V4L2_CTRL_TYPE_INTEGER_MENU), V4L2_CTRL_TYPE_INTEGER_MENU);
        yield return Constant(nameof(V4L2_CTRL_FLAG_DISABLED), V4L2_CTRL_FLAG_DISABLED);
        yield return Constant(nameof(V4L2_CTRL_FLAG_GRABBED), V4L2_CTRL_FLAG_GRABBED);
        yield return Constant(nameof(V4L2_CTRL_FLAG_READ_ONLY), V4L2_CTRL_FLAG_READ_ONLY);
        yield return Constant(nameof(V4L2_CTRL_FLAG_INACTIVE), V4L2_CTRL_FLAG_INACTIVE);
        yield return Constant(nameof(V4L2_CTRL_FLAG_WRITE_ONLY), V4L2_CTRL_FLAG_WRITE_ONLY);
        yield return Constant(nameof(V4L2_CTRL_FLAG_NEXT_CTRL), V4L2_CTRL_FLAG_NEXT_CTRL);
        yield return Constant(nameof(V4L2_CID_BASE), V4L2_CID_BASE);
        yield return Constant(nameof(V4L2_CID_BRIGHTNESS), V4L2_CID_BRIGHTNESS);
        yield return Constant(nameof(V4L2_CID_CONTRAST), V4L2_CID_CONTRAST);
        yield return Constant(nameof(V4L2_CID_ROTATE), V4L2_CID_ROTATE);
        yield return Constant(nameof(V4L2_CID_EXPOSURE_ABSOLUTE), V4L2_CID_EXPOSURE_ABSOLUTE);
        yield return Constant(nameof(V4L2_CID_MPEG_VIDEO_BITRATE), V4L2_CID_MPEG_VIDEO_BITRATE);
        yield return Constant(nameof(V4L2_CID_MPEG_VIDEO_GOP_SIZE), V4L2_CID_MPEG_VIDEO_GOP_SIZE);
        yield return Constant(nameof(V4L2_CID_MPEG_VIDEO_H264_I_PERIOD), V4L2_CID_MPEG_VIDEO_H264_I_PERIOD);

        yield return Constant(nameof(Osprey.Interop.Libc.O_RDWR), Osprey.Interop.Libc.O_RDWR);
        yield return Constant(nameof(Osprey.Interop.Libc.O_NONBLOCK), Osprey.Interop.Libc.O_NONBLOCK);
        yield return Constant(nameof(Osprey.Interop.Libc.O_CLOEXEC), Osprey.Interop.Libc.O_CLOEXEC);
        yield return Constant(nameof(Osprey.Interop.Libc.PROT_READ), Osprey.Interop.Libc.PROT_READ);
        yield return Constant(nameof(Osprey.Interop.Libc.PROT_WRITE), Osprey.Interop.Libc.PROT_WRITE);
        yield return Constant(nameof(Osprey.Interop.Libc.MAP_SHARED), Osprey.Interop.Libc.MAP_SHARED);
        yield return Constant(nameof(Osprey.Interop.Libc.POLLIN), (ulong)Osprey.Interop.Libc.POLLIN);
        yield return Constant(nameof(Osprey.Interop.Libc.POLLPRI), (ulong)Osprey.Interop.Libc.POLLPRI);
        yield return Constant(nameof(Osprey.Interop.Libc.POLLERR), (ulong)Osprey.Interop.Libc.POLLERR);
        yield return Constant(nameof(Osprey.Interop.Libc.POLLHUP), (ulong)Osprey.Interop.Libc.POLLHUP);
        yield return Constant(nameof(Osprey.Interop.Libc.POLLNVAL), (ulong)Osprey.Interop.Libc.POLLNVAL);
        foreach (var (name, value) in new (string, int)[]
                 {
                     ("EINTR", Osprey.Interop.Libc.Errors.EINTR), ("EAGAIN", Osprey.Interop.Libc.Errors.EAGAIN),
                     ("ENODEV", Osprey.Interop.Libc.Errors.ENODEV), ("ENOENT", Osprey.Interop.Libc.Errors.ENOENT),
                     ("EINVAL", Osprey.Interop.Libc.Errors.EINVAL), ("EBUSY", Osprey.Interop.Libc.Errors.EBUSY),
                     ("EIO", Osprey.Interop.Libc.Errors.EIO), ("ENXIO", Osprey.Interop.Libc.Errors.ENXIO),
                     ("ENOTTY", Osprey.Interop.Libc.Errors.ENOTTY), ("EACCES", Osprey.Interop.Libc.Errors.EACCES),
                     ("ERANGE", Osprey.Interop.Libc.Errors.ERANGE), ("EPERM", Osprey.Interop.Libc.Errors.EPERM),
                 })
        {
            yield return Constant(name, (ulong)value);
        }
    }

    [Fact]
    public void EveryStructSizeFieldOffsetRequestNumberAndConstantMatchesTheKernelHeaders()
    {
        Assert.True(OperatingSystem.IsLinux(), "V4L2 is Linux only");
        Assert.True(Environment.Is64BitProcess, "Osprey's V4L2 layouts are the 64-bit ones (x86-64, arm64)");
        var facts = Facts().ToList();
        var kernel = CompileAndRun(facts);
        var mismatches = new List<string>();
        foreach (var fact in facts)
        {
            if (!kernel.TryGetValue(fact.Name, out var expected))
            {
                mismatches.Add($"{fact.Name}: missing from the C program's output");
            }
            else if (expected != fact.CSharp)
            {
                mismatches.Add($"{fact.Name}: kernel {expected} (0x{expected:X}), Osprey {fact.CSharp} (0x{fact.CSharp:X})");
            }
        }

        output.WriteLine($"{facts.Count} facts checked against /usr/include/linux/videodev2.h on {RuntimeInformation.ProcessArchitecture}.");
        Assert.True(mismatches.Count == 0, "Layouts differ from the kernel headers:\n" + string.Join('\n', mismatches));
        Assert.True(facts.Count > 150, $"only {facts.Count} facts: the table lost entries");
    }

    [Fact]
    public void DqbufHasTheWellKnown64BitNumber()
    {
        // The number any LP64 V4L2 program uses (sizeof(struct v4l2_buffer) == 88): a check that needs no compiler.
        Assert.Equal(0xC0585611u, VIDIOC_DQBUF);
        Assert.Equal(0x80685600u, VIDIOC_QUERYCAP);
        Assert.Equal(0xC0D05605u, VIDIOC_S_FMT);
    }

    private Dictionary<string, ulong> CompileAndRun(List<Fact> facts)
    {
        var directory = Directory.CreateTempSubdirectory("osprey-v4l2-layout-");
        try
        {
            var source = new StringBuilder();
            source.AppendLine("#include <stddef.h>\n#include <stdio.h>\n#include <poll.h>\n#include <fcntl.h>\n#include <errno.h>");
            source.AppendLine("#include <sys/mman.h>\n#include <sys/time.h>\n#include <linux/videodev2.h>\n#include <linux/v4l2-controls.h>");
            source.AppendLine("int main(void) {");
            foreach (var fact in facts)
            {
                source.AppendLine(CultureInfo.InvariantCulture, $"  printf(\"%s=%llu\\n\", \"{fact.Name}\", (unsigned long long)({fact.C}));");
            }

            source.AppendLine("  return 0;\n}");
            var cFile = Path.Combine(directory.FullName, "layout.c");
            var exe = Path.Combine(directory.FullName, "layout");
            File.WriteAllText(cFile, source.ToString());
            var (compileCode, _, compileErrors) = Run("gcc", ["-std=gnu11", "-Wall", "-o", exe, cFile]);
            Assert.True(compileCode == 0, $"gcc failed (test.sh installs gcc and linux-libc-dev):\n{compileErrors}");
            var (runCode, printed, _) = Run(exe, []);
            Assert.Equal(0, runCode);
            var result = new Dictionary<string, ulong>(StringComparer.Ordinal);
            foreach (var line in printed.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = line.LastIndexOf('=');
                result[line[..equals]] = ulong.Parse(line[(equals + 1)..], CultureInfo.InvariantCulture);
            }

            return result;
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static (int Code, string Output, string Errors) Run(string file, string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            process.WaitForExit();
            return (process.ExitCode, stdout.Result, stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, "", $"{file}: {ex.Message}");
        }
    }
}
