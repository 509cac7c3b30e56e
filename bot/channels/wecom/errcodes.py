"""WeCom errcodes: whether sending again can help, and what each means in Chinese.

Source: 企业微信开发者中心「全局错误码」 (developer.work.weixin.qq.com/document/path/90313), read in the copy the
WxJava project keeps of it (me.chanjar.weixin.common.error.WxCpErrorMsgEnum cites that page); 130101 (a group
robot over 20 messages a minute) and 93000 (a robot's webhook key removed) are from the group robot's
documentation as TECH-NOTES records it; 846605 and 846608 are the long connection's own, from the official SDKs.

- transient: busy or over a frequency limit; the same message goes through later;
- unreachable: the recipient does not exist or is outside the app's visible range (the person is marked);
- refused: the message or the configuration is wrong and stays wrong however often it is sent (content too
  long or empty, a chat or media that does not exist, an app disabled, a server IP not trusted, a secret
  that is wrong): it is settled as failed at once and logged; `duban wecom check` explains the configuration;
- any code not listed is retried, as every failure was before this table: losing a reminder to an unknown
  code is worse than a few retries.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """What to do with a send that WeCom answered with an errcode."""

    TRANSIENT = "transient"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"


TRANSIENT = {
    -1: "系统繁忙，稍后再试",
    40014: "access_token 无效（已重新获取仍不行）",
    42001: "access_token 已过期（已重新获取仍不行）",
    45009: "接口调用超过频率限制",
    45033: "接口并发调用超过限制",
    130101: "群机器人发送太频繁（每分钟不超过20条）",
}
UNREACHABLE = {
    40003: "无效的 UserID",
    40031: "UserID 不在通讯录中",
    46004: "指定的成员不存在",
    50002: "成员不在应用的可见范围内",
    60011: "无权限发给指定的成员",
    60111: "UserID 不存在",
    81013: "成员、部门、标签全部非法或无权限",
    82001: "指定的成员、部门、标签全部无效",
}
REFUSED = {
    # the message itself
    40004: "不合法的媒体文件类型",
    40005: "不合法的媒体类型参数",
    40006: "不合法的文件大小",
    40007: "不合法的 media_id（临时素材已过期或不存在）",
    40008: "不合法的消息类型",
    40009: "图片大小不符合要求",
    40011: "视频大小不符合要求",
    40033: "消息含有不合法的字符",
    40035: "不合法的参数",
    40058: "不合法的参数（内容超长或格式不符）",
    41006: "缺少 media_id",
    44001: "多媒体文件为空",
    44004: "文本消息内容为空",
    45001: "多媒体文件大小超过限制",
    45002: "消息内容超过长度限制",
    # the chat
    40050: "会话（chatid）不存在",
    86001: "不合法的群聊 chatid",
    86003: "群聊 chatid 不存在",
    93000: "群机器人的 webhook 地址已失效（机器人已被移出群聊）",
    846605: "不能在事件回调上回复消息",
    846608: "流式回复已超过6分钟",
    # the app's configuration: wrong until an administrator changes it
    40001: "Secret 不正确",
    40013: "企业ID（CorpID）不正确",
    40056: "AgentId 不正确",
    40091: "Secret 不属于这个企业",
    41001: "缺少 access_token",
    41002: "缺少企业ID（CorpID）",
    41004: "缺少 Secret",
    48002: "应用没有调用这个接口的权限",
    50003: "应用已被停用",
    60020: "服务器出口IP不在应用的「企业可信IP」中",
    301002: "无权操作这个应用",
}


def verdict(errcode: int) -> Verdict:
    """Tell whether a send refused with this errcode may succeed later, cannot reach its recipient, or never will."""
    if errcode in REFUSED:
        return Verdict.REFUSED
    if errcode in UNREACHABLE:
        return Verdict.UNREACHABLE
    return Verdict.TRANSIENT


def meaning(errcode: int) -> str:
    """Return the errcode's meaning in Chinese, or "" when it is not in the table."""
    return TRANSIENT.get(errcode) or UNREACHABLE.get(errcode) or REFUSED.get(errcode) or ""


def describe(errcode: int, errmsg: str) -> str:
    """Return "errcode N：meaning" for logs and the installer's check (WeCom's own errmsg when unknown here)."""
    return f"errcode {errcode}：{meaning(errcode) or errmsg or '未知错误'}"
