# The inbox: filters, counts, pages, the emergency banner, and how
# dates and spans of time are written in this language.

month-1 = يناير
month-2 = فبراير
month-3 = مارس
month-4 = أبريل
month-5 = مايو
month-6 = يونيو
month-7 = يوليو
month-8 = أغسطس
month-9 = سبتمبر
month-10 = أكتوبر
month-11 = نوفمبر
month-12 = ديسمبر
date-time = { $day } { $month } { $year }، { $time } UTC
time-in = بعد { $span }
time-ago = منذ { $span }
span-minutes = { $n } دقيقة
span-hours = { $n } ساعة
span-days = { $n } يوم
filters-label = تصفية القضايا
filter-show = عرض
show-open = القضايا المفتوحة
show-overdue = القضايا المتأخرة
show-finished = القضايا المنتهية
show-all = كل القضايا
filter-any = الكل
filter-counterpart-help = رمز من حرفين، مثل FR
filter-apply = تطبيق
counts-title = القضايا المفتوحة حسب الحالة
counts-open = { $open } قضية مفتوحة، منها { $overdue } متأخرة
pages-label = الصفحات
page-previous = الصفحة السابقة
page-next = الصفحة التالية
page-number = الصفحة { $page }
inbox-overdue = متأخرة
alerts-emergencies = طلبات طارئة بانتظار الإقرار بالاستلام: { $count }
