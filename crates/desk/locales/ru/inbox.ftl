# The inbox: filters, counts, pages, the emergency banner, and how
# dates and spans of time are written in this language.

month-1 = января
month-2 = февраля
month-3 = марта
month-4 = апреля
month-5 = мая
month-6 = июня
month-7 = июля
month-8 = августа
month-9 = сентября
month-10 = октября
month-11 = ноября
month-12 = декабря
date-time = { $day } { $month } { $year } г., { $time } UTC
time-in = через { $span }
time-ago = { $span } назад
span-minutes = { $n } мин
span-hours = { $n } ч
span-days = { $n } дн.
filters-label = Отбор дел
filter-show = Показать
show-open = Открытые дела
show-overdue = Просроченные дела
show-finished = Завершённые дела
show-all = Все дела
filter-any = Любой
filter-counterpart-help = Двухбуквенный код, например FR
filter-apply = Применить
counts-title = Открытые дела по статусу
counts-open = Открытых дел: { $open }, из них просрочено: { $overdue }
pages-label = Страницы
page-previous = Предыдущая страница
page-next = Следующая страница
page-number = Страница { $page }
inbox-overdue = просрочено
alerts-emergencies = Экстренные запросы, ожидающие подтверждения получения: { $count }
