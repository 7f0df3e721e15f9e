/**
 * Wire compatibility of src/cri/v1/api.proto with k8s.io/cri-api v0.29 (package runtime.v1): the
 * file is parsed as the service loads it (proto-loader over protobufjs), and every method of both
 * services and the fields of the messages that matter most are checked against what that release
 * defines, written out here; one message is also encoded and compared byte by byte.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as protoLoader from '@grpc/proto-loader';
import { CRI_LOADER_OPTIONS, criProtoPath } from '../../../src/cri/proto.js';

/** `Method(Request) [stream ]Response`, in the order of the .proto. */
const SERVICES: Record<string, string[]> = {
  RuntimeService: [
    'Version(VersionRequest) VersionResponse',
    'RunPodSandbox(RunPodSandboxRequest) RunPodSandboxResponse',
    'StopPodSandbox(StopPodSandboxRequest) StopPodSandboxResponse',
    'RemovePodSandbox(RemovePodSandboxRequest) RemovePodSandboxResponse',
    'PodSandboxStatus(PodSandboxStatusRequest) PodSandboxStatusResponse',
    'ListPodSandbox(ListPodSandboxRequest) ListPodSandboxResponse',
    'CreateContainer(CreateContainerRequest) CreateContainerResponse',
    'StartContainer(StartContainerRequest) StartContainerResponse',
    'StopContainer(StopContainerRequest) StopContainerResponse',
    'RemoveContainer(RemoveContainerRequest) RemoveContainerResponse',
    'ListContainers(ListContainersRequest) ListContainersResponse',
    'ContainerStatus(ContainerStatusRequest) ContainerStatusResponse',
    'UpdateContainerResources(UpdateContainerResourcesRequest) UpdateContainerResourcesResponse',
    'ReopenContainerLog(ReopenContainerLogRequest) ReopenContainerLogResponse',
    'ExecSync(ExecSyncRequest) ExecSyncResponse',
    'Exec(ExecRequest) ExecResponse',
    'Attach(AttachRequest) AttachResponse',
    'PortForward(PortForwardRequest) PortForwardResponse',
    'ContainerStats(ContainerStatsRequest) ContainerStatsResponse',
    'ListContainerStats(ListContainerStatsRequest) ListContainerStatsResponse',
    'PodSandboxStats(PodSandboxStatsRequest) PodSandboxStatsResponse',
    'ListPodSandboxStats(ListPodSandboxStatsRequest) ListPodSandboxStatsResponse',
    'UpdateRuntimeConfig(UpdateRuntimeConfigRequest) UpdateRuntimeConfigResponse',
    'Status(StatusRequest) StatusResponse',
    'CheckpointContainer(CheckpointContainerRequest) CheckpointContainerResponse',
    'GetContainerEvents(GetEventsRequest) stream ContainerEventResponse',
    'ListMetricDescriptors(ListMetricDescriptorsRequest) ListMetricDescriptorsResponse',
    'ListPodSandboxMetrics(ListPodSandboxMetricsRequest) ListPodSandboxMetricsResponse',
    'RuntimeConfig(RuntimeConfigRequest) RuntimeConfigResponse',
  ],
  ImageService: [
    'ListImages(ListImagesRequest) ListImagesResponse',
    'ImageStatus(ImageStatusRequest) ImageStatusResponse',
    'PullImage(PullImageRequest) PullImageResponse',
    'RemoveImage(RemoveImageRequest) RemoveImageResponse',
    'ImageFsInfo(ImageFsInfoRequest) ImageFsInfoResponse',
  ],
};

/** `name=number:type` of every field, in order (`repeated T`, `map<K,V>`, messages and enums by name). */
const MESSAGES: Record<string, string> = {
  Image:
    'id=1:string repo_tags=2:repeated string repo_digests=3:repeated string size=4:uint64 uid=5:Int64Value username=6:string spec=7:ImageSpec pinned=8:bool',
  ImageSpec:
    'image=1:string annotations=2:map<string,string> user_specified_image=18:string runtime_handler=19:string',
  AuthConfig:
    'username=1:string password=2:string auth=3:string server_address=4:string identity_token=5:string registry_token=6:string',
  PullImageRequest: 'image=1:ImageSpec auth=2:AuthConfig sandbox_config=3:PodSandboxConfig',
  PullImageResponse: 'image_ref=1:string',
  ImageStatusRequest: 'image=1:ImageSpec verbose=2:bool',
  ImageStatusResponse: 'image=1:Image info=2:map<string,string>',
  ListImagesRequest: 'filter=1:ImageFilter',
  ImageFilter: 'image=1:ImageSpec',
  ListImagesResponse: 'images=1:repeated Image',
  RemoveImageRequest: 'image=1:ImageSpec',
  ImageFsInfoResponse:
    'image_filesystems=1:repeated FilesystemUsage container_filesystems=2:repeated FilesystemUsage',
  FilesystemUsage:
    'timestamp=1:int64 fs_id=2:FilesystemIdentifier used_bytes=3:UInt64Value inodes_used=4:UInt64Value',
  FilesystemIdentifier: 'mountpoint=1:string',
  UInt64Value: 'value=1:uint64',
  Int64Value: 'value=1:int64',
  VersionRequest: 'version=1:string',
  VersionResponse:
    'version=1:string runtime_name=2:string runtime_version=3:string runtime_api_version=4:string',
  StatusRequest: 'verbose=1:bool',
  StatusResponse: 'status=1:RuntimeStatus info=2:map<string,string>',
  RuntimeStatus: 'conditions=1:repeated RuntimeCondition',
  RuntimeCondition: 'type=1:string status=2:bool reason=3:string message=4:string',
  RuntimeConfigResponse: 'linux=1:LinuxRuntimeConfiguration',
  LinuxRuntimeConfiguration: 'cgroup_driver=1:CgroupDriver',
  PodSandboxConfig:
    'metadata=1:PodSandboxMetadata hostname=2:string log_directory=3:string dns_config=4:DNSConfig port_mappings=5:repeated PortMapping labels=6:map<string,string> annotations=7:map<string,string> linux=8:LinuxPodSandboxConfig windows=9:WindowsPodSandboxConfig',
  PodSandboxMetadata: 'name=1:string uid=2:string namespace=3:string attempt=4:uint32',
  RunPodSandboxRequest: 'config=1:PodSandboxConfig runtime_handler=2:string',
  PodSandboxStatus:
    'id=1:string metadata=2:PodSandboxMetadata state=3:PodSandboxState created_at=4:int64 network=5:PodSandboxNetworkStatus linux=6:LinuxPodSandboxStatus labels=7:map<string,string> annotations=8:map<string,string> runtime_handler=9:string',
  ContainerConfig:
    'metadata=1:ContainerMetadata image=2:ImageSpec command=3:repeated string args=4:repeated string working_dir=5:string envs=6:repeated KeyValue mounts=7:repeated Mount devices=8:repeated Device labels=9:map<string,string> annotations=10:map<string,string> log_path=11:string stdin=12:bool stdin_once=13:bool tty=14:bool linux=15:LinuxContainerConfig windows=16:WindowsContainerConfig CDI_devices=17:repeated CDIDevice',
  ContainerStatus:
    'id=1:string metadata=2:ContainerMetadata state=3:ContainerState created_at=4:int64 started_at=5:int64 finished_at=6:int64 exit_code=7:int32 image=8:ImageSpec image_ref=9:string reason=10:string message=11:string labels=12:map<string,string> annotations=13:map<string,string> mounts=14:repeated Mount log_path=15:string resources=16:ContainerResources',
  LinuxContainerResources:
    'cpu_period=1:int64 cpu_quota=2:int64 cpu_shares=3:int64 memory_limit_in_bytes=4:int64 oom_score_adj=5:int64 cpuset_cpus=6:string cpuset_mems=7:string hugepage_limits=8:repeated HugepageLimit unified=9:map<string,string> memory_swap_limit_in_bytes=10:int64',
  ExecSyncRequest: 'container_id=1:string cmd=2:repeated string timeout=3:int64',
  ExecSyncResponse: 'stdout=1:bytes stderr=2:bytes exit_code=3:int32',
  ExecRequest:
    'container_id=1:string cmd=2:repeated string tty=3:bool stdin=4:bool stdout=5:bool stderr=6:bool',
  AttachRequest: 'container_id=1:string stdin=2:bool tty=3:bool stdout=4:bool stderr=5:bool',
  PortForwardRequest: 'pod_sandbox_id=1:string port=2:repeated int32',
  ContainerStats:
    'attributes=1:ContainerAttributes cpu=2:CpuUsage memory=3:MemoryUsage writable_layer=4:FilesystemUsage swap=5:SwapUsage',
};

interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType?: { name: string; field: FieldDescriptor[]; options?: { mapEntry?: boolean } | null }[];
}
interface MethodDefinition {
  requestStream: boolean;
  responseStream: boolean;
  requestType: { type: MessageDescriptor };
  responseType: { type: MessageDescriptor };
}

function scalar(f: FieldDescriptor): string {
  if (f.type === 'TYPE_MESSAGE' || f.type === 'TYPE_ENUM') return f.typeName.replace(/^\.?runtime\.v1\./, '');
  return f.type.replace(/^TYPE_/, '').toLowerCase();
}

function describe(t: MessageDescriptor): string {
  return t.field
    .map((f) => {
      const entry = t.nestedType?.find((n) => n.name === f.typeName && n.options?.mapEntry === true);
      if (entry !== undefined) {
        const [k, v] = entry.field as [FieldDescriptor, FieldDescriptor];
        return `${f.name}=${f.number}:map<${scalar(k)},${scalar(v)}>`;
      }
      return `${f.name}=${f.number}:${f.label === 'LABEL_REPEATED' ? 'repeated ' : ''}${scalar(f)}`;
    })
    .join(' ');
}

const definition = protoLoader.loadSync(criProtoPath(), CRI_LOADER_OPTIONS);

test('both services have exactly the methods of cri-api v0.29, with their types and streaming', () => {
  for (const [service, methods] of Object.entries(SERVICES)) {
    const def = definition[`runtime.v1.${service}`] as Record<string, MethodDefinition> | undefined;
    assert.ok(def !== undefined, `service runtime.v1.${service}`);
    const got = Object.entries(def).map(
      ([name, m]) =>
        `${name}(${m.requestStream ? 'stream ' : ''}${m.requestType.type.name}) ${m.responseStream ? 'stream ' : ''}${m.responseType.type.name}`,
    );
    assert.deepEqual(got, methods, service);
  }
});

test('key messages have the field names, numbers and types of cri-api v0.29', () => {
  for (const [name, fields] of Object.entries(MESSAGES)) {
    const def = definition[`runtime.v1.${name}`] as { type: MessageDescriptor } | undefined;
    assert.ok(def !== undefined, `message runtime.v1.${name}`);
    assert.equal(describe(def.type), fields, name);
  }
});

test('an Image encodes to the bytes cri-api v0.29 gives it', () => {
  const def = definition['runtime.v1.ImageStatusResponse'] as { serialize(v: unknown): Buffer };
  const bytes = def.serialize({
    image: { id: 'a', repo_tags: ['t'], size: '5', uid: { value: '3' }, pinned: true },
  });
  // field 1 (Image, 14 bytes): id=1 "a", repo_tags=2 "t", size=4 varint 5, uid=5 {value=1 varint 3}, pinned=8 true
  assert.equal(bytes.toString('hex'), '0a0e' + '0a0161' + '120174' + '2005' + '2a020803' + '4001');
});
